use serde::{Deserialize, Serialize};

/// The health-code color. The order is the order of severity, so the color
/// of a decision is the maximum over its fired rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Green = 0,
    Yellow = 1,
    Red = 2,
}

impl Color {
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Green => "green",
            Color::Yellow => "yellow",
            Color::Red => "red",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Color::Green => "绿码",
            Color::Yellow => "黄码",
            Color::Red => "红码",
        }
    }

    pub fn from_u8(value: u8) -> Option<Color> {
        match value {
            0 => Some(Color::Green),
            1 => Some(Color::Yellow),
            2 => Some(Color::Red),
            _ => None,
        }
    }

    pub fn parse(text: &str) -> Option<Color> {
        match text {
            "green" => Some(Color::Green),
            "yellow" => Some(Color::Yellow),
            "red" => Some(Color::Red),
            _ => None,
        }
    }
}

impl std::fmt::Display for Color {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
