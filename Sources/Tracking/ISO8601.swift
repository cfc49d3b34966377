/// ISO 8601 UTC timestamps from unix seconds, without Foundation's formatters.
enum ISO8601 {
    /// `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian calendar, UTC). Years outside 0...9999 are
    /// written with as many digits as needed and a `-` sign before year 0.
    static func format(unixSeconds: Int64) -> String {
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

        var out = ""
        out.reserveCapacity(20)
        if year < 0 { out += "-" }
        out += pad(year.magnitude, 4)
        out += "-" + pad(UInt64(month), 2) + "-" + pad(UInt64(day), 2)
        out += "T" + pad(UInt64(secondsOfDay / 3600), 2) + ":" + pad(UInt64(secondsOfDay / 60 % 60), 2)
        out += ":" + pad(UInt64(secondsOfDay % 60), 2) + "Z"
        return out
    }

    private static func pad(_ value: UInt64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
