//! The retry budget of one key (SPEC 6): a token bucket, as the AWS SDK's standard mode.
//! Retries spend tokens, successes earn a few back, and an empty bucket stops retry storms.

use super::policy::BudgetSettings;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    tokens: u32,
}

impl Budget {
    pub fn full(settings: &BudgetSettings) -> Self {
        Budget { tokens: settings.capacity }
    }

    pub fn tokens(&self) -> u32 {
        self.tokens
    }

    /// Takes `cost` tokens if the bucket holds them. A capacity lowered since the bucket
    /// was filled is applied first, so the bucket never holds more than it may.
    pub fn try_take(&mut self, settings: &BudgetSettings, cost: u32) -> bool {
        self.tokens = self.tokens.min(settings.capacity);
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Takes `amount` tokens whatever the bucket holds (down to empty): tokens already spent
    /// elsewhere (the fleet's budget, `core::fleet::hub`, hears of retries already sent).
    pub fn spend(&mut self, settings: &BudgetSettings, amount: u32) {
        self.tokens = self.tokens.min(settings.capacity).saturating_sub(amount);
    }

    /// Returns `amount` tokens, never above capacity.
    pub fn refund(&mut self, settings: &BudgetSettings, amount: u32) {
        self.tokens = self.tokens.saturating_add(amount).min(settings.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_until_empty_then_refuses() {
        let s = BudgetSettings { capacity: 12, retry_cost: 5, timeout_cost: 10, success_refund: 1 };
        let mut b = Budget::full(&s);
        assert!(b.try_take(&s, 5));
        assert!(b.try_take(&s, 5));
        assert!(!b.try_take(&s, 5));
        assert_eq!(b.tokens(), 2);
        b.refund(&s, 3);
        assert!(b.try_take(&s, 5));
        assert_eq!(b.tokens(), 0);
    }

    #[test]
    fn refunds_stop_at_capacity() {
        let s = BudgetSettings { capacity: 3, ..BudgetSettings::default() };
        let mut b = Budget::full(&s);
        b.refund(&s, 100);
        assert_eq!(b.tokens(), 3);
        let smaller = BudgetSettings { capacity: 1, ..s };
        assert!(b.try_take(&smaller, 1));
        assert_eq!(b.tokens(), 0);
    }
}
