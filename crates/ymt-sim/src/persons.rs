//! Synthetic residents, grouped in households, with synthetic identity documents.

use std::collections::HashSet;

use rand::{Rng, RngExt};
use time::{Date, Month};
use ymt_core::identity::{IdDocument, IdType, resident_id_check_char};
use ymt_core::{PersonId, RegionCode};

use crate::SimError;
use crate::names::{OTHER_BIRTH_COUNTIES, chinese_name, latin_name, pick_surname};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPerson {
    pub index: usize,
    /// A placeholder pseudonym (`p` and the zero-padded index). A server
    /// recomputes the real pseudonym from [`SimPerson::document`] with its key.
    pub pid: PersonId,
    pub document: IdDocument,
    pub display_name: String,
    pub birth_date: Date,
    /// Whole years of age at the start of the simulation.
    pub age_years: u32,
    /// False for persons without a smartphone, who are verified by ID card
    /// or shown through a guardian's phone.
    pub phone: bool,
    pub household: usize,
    /// Indexes of the persons this one is guardian of (children, elderly
    /// without a phone) in the same household.
    pub dependents: Vec<usize>,
    pub guardian: Option<usize>,
}

impl SimPerson {
    pub fn is_adult(&self) -> bool {
        (18..65).contains(&self.age_years)
    }
}

/// The placeholder pseudonym of the person with this index.
pub fn placeholder_pid(index: usize) -> PersonId {
    PersonId::parse(&format!("p{index:08}")).expect("p and digits make a person id")
}

/// A synthetic 18-character resident ID: the region's six-digit prefix, the
/// birth date, a three-digit sequence number and the GB 11643 check character.
///
/// Numbers made here are valid in form only and belong to nobody.
pub fn synthetic_resident_id<R: Rng + ?Sized>(
    rng: &mut R,
    region_prefix: &RegionCode,
    birth_date: Date,
) -> Result<IdDocument, SimError> {
    let sequence = rng.random_range(0..1000u32);
    resident_id_with_sequence(region_prefix, birth_date, sequence)
}

fn resident_id_with_sequence(
    region_prefix: &RegionCode,
    birth_date: Date,
    sequence: u32,
) -> Result<IdDocument, SimError> {
    let prefix = region_prefix
        .as_str()
        .get(..6)
        .ok_or_else(|| SimError::RegionNotCounty(region_prefix.to_string()))?;
    if !(1800..=9999).contains(&birth_date.year()) {
        return Err(SimError::BirthDate(birth_date.to_string()));
    }
    let first_17 = format!(
        "{prefix}{:04}{:02}{:02}{:03}",
        birth_date.year(),
        u8::from(birth_date.month()),
        birth_date.day(),
        sequence % 1000
    );
    let digits: [u8; 17] = first_17
        .as_bytes()
        .try_into()
        .expect("six, eight and three digits are seventeen");
    let mut number = first_17;
    number.push(char::from(resident_id_check_char(&digits)));
    IdDocument::parse(IdType::ResidentId, &number)
        .map_err(|error| SimError::BirthDate(format!("{birth_date}: {error}")))
}

/// The roles a member of a household is generated for.
#[derive(Clone, Copy)]
enum Member {
    Adult,
    Child,
    Elder,
}

/// The members of a household, first always an adult (the guardian).
fn household_members<R: Rng + ?Sized>(rng: &mut R) -> Vec<Member> {
    let size = match rng.random_range(0..100) {
        0..25 => 1,
        25..55 => 2,
        55..80 => 3,
        80..95 => 4,
        _ => 5,
    };
    let mut members = vec![Member::Adult];
    for position in 1..size {
        let member = match rng.random_range(0..100) {
            0..45 if position == 1 => Member::Adult,
            0..20 => Member::Adult,
            20..70 => Member::Child,
            _ => Member::Elder,
        };
        members.push(member);
    }
    members
}

fn random_birth_date<R: Rng + ?Sized>(rng: &mut R, start_year: i32, age_years: u32) -> Date {
    let year = start_year - age_years as i32 - 1;
    let month = Month::try_from(rng.random_range(1..=12u8)).expect("1 to 12 is a month");
    let day = rng.random_range(1..=time::util::days_in_month(month, year));
    Date::from_calendar_date(year, month, day).expect("a day within its month")
}

/// Generates the persons, household by household. Resident ID numbers are
/// unique within the city (a collision is redrawn).
pub(crate) fn generate_persons<R: Rng + ?Sized>(
    rng: &mut R,
    county: &RegionCode,
    start_year: i32,
    count: usize,
) -> Result<Vec<SimPerson>, SimError> {
    let other_counties: Vec<RegionCode> = OTHER_BIRTH_COUNTIES
        .iter()
        .map(|code| RegionCode::parse(code).expect("the built-in codes are valid"))
        .collect();
    let mut persons: Vec<SimPerson> = Vec::with_capacity(count);
    // The first 17 digits of every number issued, as an integer.
    let mut issued: HashSet<u64> = HashSet::with_capacity(count);
    let mut passports_issued: HashSet<u32> = HashSet::new();
    let mut household = 0usize;
    while persons.len() < count {
        let members = household_members(rng);
        let guardian_index = persons.len();
        let family_surname = pick_surname(rng);
        let foreign = rng.random_ratio(1, 100);
        for member in members {
            if persons.len() == count {
                break;
            }
            let index = persons.len();
            let age_years = match member {
                Member::Adult => rng.random_range(20..65),
                Member::Child => rng.random_range(0..18),
                Member::Elder => rng.random_range(65..95),
            };
            let birth_date = random_birth_date(rng, start_year, age_years);
            let phone = match member {
                Member::Adult => true,
                Member::Child => age_years >= 12,
                Member::Elder => rng.random_ratio(1, 2),
            };
            let (document, display_name) = if foreign {
                let mut passport_serial = rng.random_range(0..100_000_000u32);
                while !passports_issued.insert(passport_serial) {
                    passport_serial = rng.random_range(0..100_000_000u32);
                }
                let passport = format!("P{passport_serial:08}");
                let document = IdDocument::parse(IdType::Passport, &passport)
                    .expect("a letter and eight digits are a passport number");
                (document, latin_name(rng))
            } else {
                let prefix = if rng.random_ratio(7, 10) {
                    county
                } else {
                    &other_counties[rng.random_range(0..other_counties.len())]
                };
                let mut document = synthetic_resident_id(rng, prefix, birth_date)?;
                while !issued.insert(first_17_as_integer(&document)) {
                    document = synthetic_resident_id(rng, prefix, birth_date)?;
                }
                // Children mostly take the guardian's surname.
                (document, chinese_name(rng, family_surname))
            };
            let dependent = index != guardian_index && (!phone || age_years < 18);
            let guardian = dependent.then_some(guardian_index);
            if dependent {
                persons[guardian_index].dependents.push(index);
            }
            persons.push(SimPerson {
                index,
                pid: placeholder_pid(index),
                document,
                display_name,
                birth_date,
                age_years,
                phone,
                household,
                dependents: Vec::new(),
                guardian,
            });
        }
        household += 1;
    }
    Ok(persons)
}

fn first_17_as_integer(document: &IdDocument) -> u64 {
    document.number_for_hashing()[..17]
        .bytes()
        .fold(0u64, |value, digit| value * 10 + u64::from(digit - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn synthetic_ids_parse() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let region = RegionCode::parse("440305").unwrap();
        for year in [1930, 1988, 2000, 2021] {
            let date = Date::from_calendar_date(year, Month::February, 28).unwrap();
            let document = synthetic_resident_id(&mut rng, &region, date).unwrap();
            let number = document.number_for_hashing();
            assert!(number.starts_with("440305"), "{number}");
            assert_eq!(&number[6..10], year.to_string());
            assert!(IdDocument::parse(IdType::ResidentId, number).is_ok());
        }
        let province = RegionCode::parse("44").unwrap();
        let date = Date::from_calendar_date(1990, Month::May, 1).unwrap();
        assert!(synthetic_resident_id(&mut rng, &province, date).is_err());
    }
}
