/// ISO 8601 UTC timestamps from unix seconds, without Foundation's formatters.
package enum ISO8601 {
    /// `YYYY-MM-DDTHH:MM:SSZ`, or `YYYY-MM-DDTHH:MM:SS.mmmZ` when `milliseconds` is given
    /// (0...999; SparkPost's `injection_time` shape). Proleptic Gregorian calendar, UTC. Years
    /// outside 0...9999 are written with as many digits as needed and a `-` sign before year 0.
    package static func format(unixSeconds: Int64, milliseconds: Int? = nil) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(24)
        append(unixSeconds: unixSeconds, milliseconds: milliseconds, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends what ``format(unixSeconds:milliseconds:)`` returns.
    package static func append(unixSeconds: Int64, milliseconds: Int? = nil, to out: inout [UInt8]) {
        // Floor division so instants before 1970 land on the right day.
        var days = unixSeconds / 86_400
        var secondsOfDay = unixSeconds % 86_400
        if secondsOfDay < 0 {
            secondsOfDay += 86_400
            days -= 1
        }
        // Civil date from a day count (days since 1970-01-01), eras of 400 years.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)

        if year < 0 { out.append(ASCII.hyphen) }
        appendDigits(year.magnitude, width: 4, to: &out)
        out.append(ASCII.hyphen)
        appendDigits(UInt64(month), width: 2, to: &out)
        out.append(ASCII.hyphen)
        appendDigits(UInt64(day), width: 2, to: &out)
        out.append(0x54)  // T
        appendDigits(UInt64(secondsOfDay / 3600), width: 2, to: &out)
        out.append(ASCII.colon)
        appendDigits(UInt64(secondsOfDay / 60 % 60), width: 2, to: &out)
        out.append(ASCII.colon)
        appendDigits(UInt64(secondsOfDay % 60), width: 2, to: &out)
        if let milliseconds {
            out.append(0x2E)  // .
            appendDigits(UInt64(min(max(milliseconds, 0), 999)), width: 3, to: &out)
        }
        out.append(0x5A)  // Z
    }

    /// Decimal digits of `value`, zero-padded to at least `width`.
    private static func appendDigits(_ value: UInt64, width: Int, to out: inout [UInt8]) {
        // The widths a timestamp uses, with constant divisors (a multiplication each, where the
        // loop below divides by a variable).
        if width == 2, value < 100 {
            out.append(0x30 + UInt8(value / 10))
            out.append(0x30 + UInt8(value % 10))
            return
        }
        if width == 3, value < 1000 {
            out.append(0x30 + UInt8(value / 100))
            out.append(0x30 + UInt8(value / 10 % 10))
            out.append(0x30 + UInt8(value % 10))
            return
        }
        if width == 4, value < 10000 {
            out.append(0x30 + UInt8(value / 1000))
            out.append(0x30 + UInt8(value / 100 % 10))
            out.append(0x30 + UInt8(value / 10 % 10))
            out.append(0x30 + UInt8(value % 10))
            return
        }
        var divisor: UInt64 = 1
        var count = 1
        while value / divisor >= 10 {
            divisor *= 10
            count += 1
        }
        for _ in count..<max(width, count) { out.append(0x30) }
        while divisor > 0 {
            out.append(0x30 + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }
}
