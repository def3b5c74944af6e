//! Small built-in word lists: names of people, places and venues.
//!
//! The lists are short on purpose: the point is a plausible-looking demo,
//! not a census. Common surnames come first so that the skewed pick in
//! [`pick_surname`] makes 王, 李 and 张 the most frequent, as they are.

use rand::{Rng, RngExt};

/// Common single-character surnames, most frequent first.
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "高", "罗", "郑", "梁", "谢", "宋", "唐", "许", "邓", "冯", "韩", "曹", "曾", "彭",
    "肖", "蔡", "潘", "田", "董", "袁", "于", "余", "叶", "蒋", "杜", "苏", "魏", "程", "吕", "丁",
    "沈", "任", "姚", "卢", "钟", "姜", "崔", "谭", "廖", "范", "汪", "陆", "金", "石", "戴", "贾",
    "韦", "夏", "邱", "方", "侯", "邹", "熊", "孟", "秦", "白", "江", "阎", "薛", "尹", "段", "雷",
];

/// Two-character surnames, picked rarely.
const COMPOUND_SURNAMES: &[&str] = &["欧阳", "司马", "诸葛", "上官", "东方"];

/// Characters that commonly make up given names.
const GIVEN_CHARACTERS: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "兰", "霞", "平", "刚", "桂", "英", "华", "建", "国", "玉", "秀", "文", "辉", "鹏", "飞",
    "欣", "怡", "婷", "雪", "宇", "浩", "轩", "涵", "梓", "子", "晨", "阳", "佳", "思", "雨", "博",
    "嘉", "俊", "志", "海", "春", "红", "梅", "琳", "颖", "鑫", "凯", "晓", "小", "天", "一", "诺",
];

/// Latin names for holders of foreign passports.
const LATIN_GIVEN: &[&str] = &[
    "John", "Maria", "David", "Anna", "Kenji", "Olga", "Lucas", "Sophie", "Ahmed", "Priya", "Minh",
    "Emma",
];
const LATIN_FAMILY: &[&str] = &[
    "Smith", "Garcia", "Kim", "Tanaka", "Petrova", "Silva", "Martin", "Khan", "Sharma", "Nguyen",
    "Brown", "Schmidt",
];

/// A surname, skewed towards the common ones.
pub fn pick_surname<R: Rng + ?Sized>(rng: &mut R) -> &'static str {
    if rng.random_ratio(1, 200) {
        return COMPOUND_SURNAMES[rng.random_range(0..COMPOUND_SURNAMES.len())];
    }
    // Squaring a uniform variable favours small indexes, i.e. common surnames.
    let uniform: f64 = rng.random();
    let index = ((uniform * uniform) * SURNAMES.len() as f64) as usize;
    SURNAMES[index.min(SURNAMES.len() - 1)]
}

/// A Chinese name with the given surname and a one- or two-character given name.
pub fn chinese_name<R: Rng + ?Sized>(rng: &mut R, surname: &str) -> String {
    let mut name = String::with_capacity(12);
    name.push_str(surname);
    let given_len = if rng.random_ratio(1, 3) { 1 } else { 2 };
    for _ in 0..given_len {
        name.push_str(GIVEN_CHARACTERS[rng.random_range(0..GIVEN_CHARACTERS.len())]);
    }
    name
}

pub fn latin_name<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!(
        "{} {}",
        LATIN_GIVEN[rng.random_range(0..LATIN_GIVEN.len())],
        LATIN_FAMILY[rng.random_range(0..LATIN_FAMILY.len())]
    )
}

/// County-level codes (GB/T 2260) of birthplaces other than the simulated
/// region, since most residents of a Chinese city were born elsewhere.
pub const OTHER_BIRTH_COUNTIES: &[&str] = &[
    "110105", "310115", "430102", "420106", "510104", "410102", "360102", "440106", "445202",
    "350203", "450103", "320106",
];

/// Regions a resident may travel to, with their names.
pub const TRAVEL_DESTINATIONS: &[(&str, &str)] = &[
    ("440106", "广州市天河区"),
    ("441900", "东莞市"),
    ("440402", "珠海市香洲区"),
    ("430102", "长沙市芙蓉区"),
    ("110105", "北京市朝阳区"),
    ("510104", "成都市锦江区"),
];

/// The display name of a few known county codes; others get a neutral name.
pub fn county_name(code: &str) -> &'static str {
    match code {
        "440305" => "南山区",
        "440304" => "福田区",
        "440303" => "罗湖区",
        "440306" => "宝安区",
        "440307" => "龙岗区",
        "110105" => "朝阳区",
        "310115" => "浦东新区",
        _ => "本区",
    }
}

/// Neighbourhood names used in venue names.
pub const AREAS: &[&str] = &[
    "科技园",
    "海岸城",
    "后海",
    "蛇口",
    "西丽",
    "桃源",
    "粤海",
    "南头",
    "沙河",
    "华侨城",
    "前海",
    "大冲",
    "招商",
    "深圳湾",
];
