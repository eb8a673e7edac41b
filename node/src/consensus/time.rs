//! Timestamp rules: a block's time must be above the median of the 11 before it
//! (median-time-past, so one liar cannot drag time back) and at most two hours ahead of the
//! node's own clock (which the caller passes in: consensus never reads a clock).

use super::error::BlockError;
use super::params::{MEDIAN_TIME_SPAN, Params};

/// The median of the last (up to) 11 block times, oldest first, as Bitcoin computes it.
///
/// # Panics
/// If `recent_times` is empty: every block has at least genesis before it.
pub fn median_time_past(recent_times: &[u32]) -> u32 {
    let start = recent_times.len().saturating_sub(MEDIAN_TIME_SPAN);
    let mut window = recent_times[start..].to_vec();
    assert!(!window.is_empty(), "median time past of no blocks");
    window.sort_unstable();
    window[window.len() / 2]
}

/// Checks a block time against the median time past and the node's clock (`now`, Unix s).
pub fn check_block_time(
    time: u32,
    median_time_past: u32,
    now: u64,
    params: &Params,
) -> Result<(), BlockError> {
    if time <= median_time_past {
        return Err(BlockError::TimeTooOld {
            time,
            median_time_past,
        });
    }
    if u64::from(time) > now + u64::from(params.max_future_block_time) {
        return Err(BlockError::TimeTooNew { time, now });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_uses_only_the_last_eleven_times() {
        assert_eq!(median_time_past(&[5]), 5);
        assert_eq!(median_time_past(&[3, 1, 2]), 2);
        let times: Vec<u32> = (0..20).collect();
        assert_eq!(median_time_past(&times), 14); // median of 9..=19
        assert_eq!(
            median_time_past(&[10, 1, 1, 1, 100, 100, 100, 2, 2, 3, 3, 3]),
            3
        );
    }
}
