import Synchronization
import Tracking

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Classifies opens and clicks as made by a person or a machine. Reasons (documented in README):
/// - `apple_mail_privacy_proxy`: the client address is in a configured proxy range (Apple Mail
///   Privacy Protection's egress ranges, `machine_proxy_ranges`),
/// - `google_image_proxy`, `yahoo_mail_proxy`: the user agent names the proxy,
/// - `head_request`: a `HEAD` (people's browsers `GET`),
/// - `soon_after_injection`: within `machine_seconds_after_injection` of injection (token time),
/// - `rapid_multi_click`: another link of the same copy was clicked from the same address less
///   than a second before,
/// - `scanner_trap_link`: the request is for the invisible trap link, or follows one for the same
///   copy within `machine_seconds_after_injection` (at least 10) seconds.
public final class MachineClassifier: Sendable {
    /// Seconds after injection within which requests are machine-made.
    public let secondsAfterInjection: Int64
    let proxyRanges: [AddressRange]

    private struct Recent {
        var lastClick: [String: (time: Double, link: String)] = [:]
        var trapped: [String: Double] = [:]
    }
    private let recent = Mutex(Recent())
    private static let maxRemembered = 100_000

    /// A classifier with its window and proxy ranges.
    public init(secondsAfterInjection: Int64, proxyRanges: [AddressRange] = []) {
        self.secondsAfterInjection = secondsAfterInjection
        self.proxyRanges = proxyRanges
    }

    /// The verdict on one decoded request. `now` in seconds (fractional).
    public func classify(
        _ event: TrackedEvent, isHEAD: Bool, client: EngagementEvent.Client, now: Double
    ) -> MachineVerdict {
        var reasons: [String] = []
        if !proxyRanges.isEmpty, let address = IPAddress(client.ipAddress),
            proxyRanges.contains(where: { $0.contains(address) })
        {
            reasons.append("apple_mail_privacy_proxy")
        }
        if let agent = client.userAgent {
            if Self.contains(agent, "GoogleImageProxy") { reasons.append("google_image_proxy") }
            if Self.contains(agent, "YahooMailProxy") { reasons.append("yahoo_mail_proxy") }
        }
        if isHEAD { reasons.append("head_request") }
        if let injected = event.message?.injectionTime, Int64(now) - injected < secondsAfterInjection {
            reasons.append("soon_after_injection")
        }
        let isClick = event.type == .click || event.type == .link_unsubscribe
        if isClick {
            let copyKey = event.messageID + "|" + client.ipAddress
            let link = event.targetLinkURL ?? ""
            let trapWindow = Double(max(secondsAfterInjection, 10))
            let (rapid, trapped) = recent.withLock { recent -> (Bool, Bool) in
                if recent.lastClick.count > Self.maxRemembered { recent.lastClick.removeAll(keepingCapacity: true) }
                if recent.trapped.count > Self.maxRemembered { recent.trapped.removeAll(keepingCapacity: true) }
                var rapid = false
                if let last = recent.lastClick[copyKey], now - last.time < 1, last.link != link { rapid = true }
                recent.lastClick[copyKey] = (now, link)
                if event.isTrapLink { recent.trapped[event.messageID] = now }
                let trapped = recent.trapped[event.messageID].map { now - $0 < trapWindow } ?? false
                return (rapid, trapped)
            }
            if rapid { reasons.append("rapid_multi_click") }
            if trapped { reasons.append("scanner_trap_link") }
        }
        return MachineVerdict(reasons: reasons)
    }
}

extension MachineClassifier {
    /// Whether `text` contains the bytes of `needle` (ASCII names in a user agent).
    static func contains(_ text: String, _ needle: StaticString) -> Bool {
        needle.withUTF8Buffer { needle in
            let count = needle.count
            guard count > 0 else { return true }
            let utf8 = Array(text.utf8)
            guard utf8.count >= count else { return false }
            for start in 0...(utf8.count - count) where utf8[start] == needle[0] {
                var index = 1
                while index < count && utf8[start + index] == needle[index] { index += 1 }
                if index == count { return true }
            }
            return false
        }
    }
}

/// An IPv4 or IPv6 address as 16 bytes (IPv4 mapped into `::ffff:0:0/96`).
public struct IPAddress: Sendable, Hashable {
    let bytes: [UInt8]

    /// Parses dotted IPv4 or textual IPv6 (an IPv6 zone or brackets are not accepted).
    public init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
    }
}

/// A CIDR range, `192.0.2.0/24` or `2001:db8::/32`.
public struct AddressRange: Sendable, Hashable {
    let base: IPAddress
    let prefixBits: Int

    /// Parses `address/bits` (or a bare address: one host).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let base = IPAddress(String(first)) else { return nil }
        let isV4 = !first.contains(":")
        var bits = isV4 ? 32 : 128
        if parts.count == 2 {
            guard let value = Int(parts[1]), value >= 0, value <= bits else { return nil }
            bits = value
        }
        self.base = base
        self.prefixBits = isV4 ? bits + 96 : bits
    }

    /// Whether `address` lies in the range.
    public func contains(_ address: IPAddress) -> Bool {
        var remaining = prefixBits
        var index = 0
        while remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
            if base.bytes[index] & mask != address.bytes[index] & mask { return false }
            remaining -= 8
            index += 1
        }
        return true
    }

    /// Ranges from a file: one CIDR per line (or the first comma-separated field of Apple's
    /// `egress-ip-ranges.csv`); `#` comments and blank lines skipped; unparsable lines are errors.
    public static func parseList(_ text: String) throws(StoreError) -> [AddressRange] {
        var ranges: [AddressRange] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let field = line.split(separator: ",", maxSplits: 1).first.map { $0.trimmingASCIISpaces() } ?? ""
            guard !field.isEmpty else { continue }
            guard let range = AddressRange(String(field)) else {
                throw StoreError("machine_proxy_ranges line \(number + 1): not a CIDR range")
            }
            ranges.append(range)
        }
        return ranges
    }
}

extension Substring {
    func trimmingASCIISpaces() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" || first == "\r" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" { text = text.dropLast() }
        return text
    }
}

/// Fixed-window request counting per source address: more than `limit` requests in one window
/// are refused (`403`, as SparkPost does).
public final class RateLimiter: Sendable {
    let limit: Int
    let window: Double
    private struct Entry {
        var start: Double
        var count: Int
    }
    private let table = Mutex([String: Entry]())
    private static let maxSources = 200_000

    /// `limit` requests per `windowSeconds` per source.
    public init(limit: Int, windowSeconds: Int) {
        self.limit = limit
        self.window = Double(windowSeconds)
    }

    /// Counts one request from `source` at `now` (seconds); false when it is over the limit.
    public func allow(_ source: String, now: Double) -> Bool {
        table.withLock { table in
            if table.count > Self.maxSources {
                table = table.filter { now - $0.value.start < window }
            }
            var entry = table[source] ?? Entry(start: now, count: 0)
            if now - entry.start >= window { entry = Entry(start: now, count: 0) }
            entry.count += 1
            table[source] = entry
            return entry.count <= limit
        }
    }
}
