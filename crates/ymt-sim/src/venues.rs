//! Venues (场所) with a 场所码 id, a community code and a category.

use rand::{Rng, RngExt};
use serde::Serialize;
use ymt_core::{RegionCode, VenueId};

use crate::names::{AREAS, county_name};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VenueCategory {
    Restaurant,
    Supermarket,
    Office,
    Transit,
    Hospital,
    School,
    Gym,
    Mall,
    Market,
    Park,
}

impl VenueCategory {
    /// Relative frequencies of the categories among venues.
    const WEIGHTED: [(VenueCategory, u32); 10] = [
        (VenueCategory::Restaurant, 30),
        (VenueCategory::Supermarket, 15),
        (VenueCategory::Office, 15),
        (VenueCategory::Transit, 8),
        (VenueCategory::Hospital, 3),
        (VenueCategory::School, 4),
        (VenueCategory::Gym, 5),
        (VenueCategory::Mall, 8),
        (VenueCategory::Market, 6),
        (VenueCategory::Park, 6),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VenueCategory::Restaurant => "restaurant",
            VenueCategory::Supermarket => "supermarket",
            VenueCategory::Office => "office",
            VenueCategory::Transit => "transit",
            VenueCategory::Hospital => "hospital",
            VenueCategory::School => "school",
            VenueCategory::Gym => "gym",
            VenueCategory::Mall => "mall",
            VenueCategory::Market => "market",
            VenueCategory::Park => "park",
        }
    }

    fn pick<R: Rng + ?Sized>(rng: &mut R) -> VenueCategory {
        let total: u32 = Self::WEIGHTED.iter().map(|(_, weight)| weight).sum();
        let mut ticket = rng.random_range(0..total);
        for (category, weight) in Self::WEIGHTED {
            if ticket < weight {
                return category;
            }
            ticket -= weight;
        }
        VenueCategory::Restaurant
    }

    fn brands(self) -> &'static [&'static str] {
        match self {
            VenueCategory::Restaurant => &["湘菜馆", "茶餐厅", "面馆", "火锅店", "潮汕牛肉店"],
            VenueCategory::Supermarket => &["超市", "便利店", "生鲜超市"],
            VenueCategory::Office => &["科技大厦", "写字楼", "创业园"],
            VenueCategory::Transit => &["地铁站", "公交总站"],
            VenueCategory::Hospital => &["人民医院", "社康中心"],
            VenueCategory::School => &["小学", "中学", "幼儿园"],
            VenueCategory::Gym => &["健身房", "游泳馆"],
            VenueCategory::Mall => &["购物中心", "万象城"],
            VenueCategory::Market => &["农贸市场"],
            VenueCategory::Park => &["公园", "体育公园"],
        }
    }

    /// Only open-air venues are outdoors; an overlap there makes a companion,
    /// never a close contact.
    fn indoor(self) -> bool {
        !matches!(self, VenueCategory::Market | VenueCategory::Park)
    }

    /// The range of a typical stay, in minutes.
    pub(crate) fn stay_mins(self) -> (i64, i64) {
        match self {
            VenueCategory::Restaurant => (30, 120),
            VenueCategory::Supermarket => (10, 45),
            VenueCategory::Office => (240, 540),
            VenueCategory::Transit => (5, 20),
            VenueCategory::Hospital => (30, 180),
            VenueCategory::School => (360, 480),
            VenueCategory::Gym => (45, 120),
            VenueCategory::Mall => (30, 180),
            VenueCategory::Market => (10, 40),
            VenueCategory::Park => (20, 120),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimVenue {
    pub id: VenueId,
    pub name: String,
    /// The 12-digit community (社区) code the venue lies in.
    pub region: RegionCode,
    pub category: VenueCategory,
    pub indoor: bool,
    /// Where it is, micro-degrees (latitude, longitude): its community's
    /// place on a grid around the county's centre, and a spread inside the
    /// community from its index. Drawn from no random number, so adding
    /// coordinates changed no city or epidemic.
    pub location: (i32, i32),
}

/// The synthetic city's centre (Shenzhen, Nanshan), micro-degrees.
const CITY_CENTRE_E6: (i32, i32) = (22_533_000, 113_930_000);
/// A street's width east-west and a community's height north-south on the
/// grid, micro-degrees (about 1.2 km and 0.45 km).
const STREET_SPAN_E6: i32 = 12_000;
const COMMUNITY_SPAN_E6: i32 = 4_000;

/// A venue's coordinates: the grid cell of its community, and a place in the
/// cell from its index (a multiplicative hash, so neighbours spread).
fn venue_location(street: u32, community: u32, index: usize) -> (i32, i32) {
    let spread = (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let north = (spread >> 32) as i32 % COMMUNITY_SPAN_E6;
    let east = (spread & 0xFFFF_FFFF) as i32 % STREET_SPAN_E6;
    let lat = CITY_CENTRE_E6.0
        + (community as i32 - COMMUNITIES_PER_STREET as i32 / 2) * COMMUNITY_SPAN_E6
        + north.abs();
    let lon = CITY_CENTRE_E6.1 + (street as i32 - STREETS as i32 / 2) * STREET_SPAN_E6 + east.abs();
    (lat, lon)
}

/// Streets per simulated county and communities per street.
const STREETS: u32 = 8;
const COMMUNITIES_PER_STREET: u32 = 12;

/// The community code of a street and community number under a county.
pub(crate) fn community_code(county: &RegionCode, street: u32, community: u32) -> RegionCode {
    RegionCode::parse(&format!("{}{street:03}{community:03}", county.as_str()))
        .expect("a county code followed by six digits is a community code")
}

pub(crate) fn generate_venues<R: Rng + ?Sized>(
    rng: &mut R,
    county: &RegionCode,
    count: usize,
) -> Vec<SimVenue> {
    let county_label = county_name(county.as_str());
    // Numbers the venues of one brand in one area, so names stay unique-ish.
    let mut numbering: std::collections::HashMap<(usize, &'static str), u32> =
        std::collections::HashMap::new();
    (0..count)
        .map(|index| {
            let category = VenueCategory::pick(rng);
            let brands = category.brands();
            let brand = brands[rng.random_range(0..brands.len())];
            let area = rng.random_range(0..AREAS.len());
            let number = numbering.entry((area, brand)).or_insert(0);
            *number += 1;
            let street = rng.random_range(1..=STREETS);
            let community = rng.random_range(1..=COMMUNITIES_PER_STREET);
            let region = community_code(county, street, community);
            SimVenue {
                id: VenueId::parse(&format!("V{}-{index:06}", region.as_str()))
                    .expect("letters, digits and a dash make a venue id"),
                name: format!("{county_label}{}{brand} {number} 号", AREAS[area]),
                region,
                category,
                indoor: category.indoor(),
                location: venue_location(street, community, index),
            }
        })
        .collect()
}
