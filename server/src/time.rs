//! Timestamps: microseconds since the Unix epoch in storage, RFC 3339 on the wire.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in microseconds since the epoch.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

// Days since 1970-01-01 from a civil date, and back (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats as Glance does: `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, UTC).
pub fn format(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A time as oslo.messaging stamps a message: `YYYY-MM-DD HH:MM:SS.ffffff` (UTC).
pub(crate) fn format_oslo(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        micros.rem_euclid(1_000_000)
    )
}

/// Parses an ISO 8601 time: `YYYY-MM-DD`, optionally `THH:MM[:SS[.frac]]`, optionally `Z` or
/// `±HH[:MM]`. A time without an offset is UTC.
pub(crate) fn parse(s: &str) -> Option<i64> {
    let s = s.trim();
    let num = |t: &str| -> Option<i64> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (date, rest) = s.split_at(s.len().min(10));
    let mut parts = date.split('-');
    let (y, m, d) = (
        num(parts.next()?)?,
        num(parts.next()?)?,
        num(parts.next()?)?,
    );
    if date.len() != 10 || !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1 {
        return None;
    }
    let mut micros = days_from_civil(y, m, d) * 86_400_000_000;
    let rest = match rest.strip_prefix(['T', 't', ' ']) {
        Some(r) => r,
        None if rest.is_empty() => return Some(micros),
        None => return None,
    };
    // Split off the offset.
    let (clock, offset) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (clock, None),
    };
    let mut hms = hms.split(':');
    let h = num(hms.next()?)?;
    let mi = num(hms.next()?)?;
    let sec = match hms.next() {
        Some(t) => num(t)?,
        None => 0,
    };
    if hms.next().is_some() || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    micros += (h * 3600 + mi * 60 + sec) * 1_000_000;
    if let Some(frac) = frac {
        let digits: String = frac.chars().take(6).collect();
        let value = num(&digits)?;
        micros += value * 10_i64.pow(6 - u32::try_from(digits.len()).ok()?);
    }
    match offset {
        "" | "Z" | "z" => {}
        o => {
            let sign = if o.starts_with('-') { 1 } else { -1 };
            let body = &o[1..];
            let (oh, om) = match body.split_once(':') {
                Some((a, b)) => (num(a)?, num(b)?),
                None if body.len() == 4 => (num(&body[..2])?, num(&body[2..])?),
                None => (num(body)?, 0),
            };
            micros += sign * (oh * 3600 + om * 60) * 1_000_000;
        }
    }
    Some(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        let t = parse("2026-11-25T01:02:03Z").expect("valid");
        assert_eq!(format(t), "2026-11-25T01:02:03Z");
        assert_eq!(parse("2026-11-25T01:02:03.5Z"), Some(t + 500_000));
        assert_eq!(parse("2026-11-25T03:02:03+02:00"), Some(t));
        assert_eq!(parse("2026-11-24T23:02:03-0200"), Some(t));
        assert_eq!(parse("2000-02-29"), parse("2000-02-29T00:00:00Z"));
        assert_eq!(
            format(parse("1999-12-31T23:59:59Z").expect("valid")),
            "1999-12-31T23:59:59Z"
        );
        for bad in [
            "",
            "2026",
            "2026-13-01",
            "2026-01-01T25:00",
            "2026-01-01X",
            "tomorrow",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
