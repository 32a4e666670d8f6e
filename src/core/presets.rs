//! Service profiles (SPEC 8). `max_attempts` is the profile's retries plus the first attempt.

use super::policy::Jitter;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preset {
    pub name: &'static str,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    pub max_attempts: u32,
    pub jitter: Option<Jitter>,
}

const fn preset(name: &'static str, base_delay_ms: u64, max_delay_ms: u64, max_retries: u32) -> Preset {
    Preset { name, base_delay_ms, max_delay_ms, max_attempts: max_retries + 1, jitter: None }
}

/// In this order: pkg-template/api.js names them by their place.
pub const PRESETS: [Preset; 7] = [
    preset("database", 10, 1_000, 3),
    preset("fileUpload", 100, 60_000, 10),
    preset("apiGateway", 50, 5_000, 5),
    preset("messageQueue", 25, 2_000, 4),
    preset("mlTraining", 1_000, 600_000, 5),
    preset("videoProcessing", 500, 300_000, 8),
    Preset { jitter: Some(Jitter::Full), ..preset("awsStandard", 100, 20_000, 2) },
];

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_spec() {
        let db = find("database").map(|p| (p.base_delay_ms, p.max_delay_ms, p.max_attempts));
        assert_eq!(db, Some((10, 1000, 4)));
        let aws = find("awsStandard").map(|p| (p.max_attempts, p.jitter));
        assert_eq!(aws, Some((3, Some(Jitter::Full))));
        assert_eq!(find("videoProcessing").map(|p| p.max_attempts), Some(9));
        assert!(find("nope").is_none());
    }
}
