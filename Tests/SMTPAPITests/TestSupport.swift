import Foundation
import Testing

@testable import SMTPAPI

/// Parses `value` (a Swift string standing for the raw field value bytes).
func outcome(_ value: String, limits: APILimits = APILimits()) -> Result<APIHeader, SMTPReply> {
    outcome(bytes: Array(value.utf8), limits: limits)
}

/// Parses raw field value bytes.
func outcome(bytes: [UInt8], limits: APILimits = APILimits()) -> Result<APIHeader, SMTPReply> {
    do throws(SMTPReply) {
        return .success(try APIHeader.parse(bytes[...], limits: limits))
    } catch {
        return .failure(error)
    }
}

/// The full reply line `value` is refused with, or `nil` when it is accepted.
func refusal(_ value: String, limits: APILimits = APILimits()) -> String? {
    if case .failure(let reply) = outcome(value, limits: limits) { return reply.description }
    return nil
}

/// The header `value` parses to, or `nil` when refused.
func accepted(_ value: String, limits: APILimits = APILimits()) -> APIHeader? {
    if case .success(let header) = outcome(value, limits: limits) { return header }
    return nil
}

/// A canonical, line-per-fact text form of a header, used by the golden files.
func dump(_ header: APIHeader) -> String {
    var lines: [String] = []
    func quoted(_ text: String) -> String { JSONValue.string(text).serialized() }
    if let campaignID = header.campaignID { lines.append("campaign_id: \(quoted(campaignID))") }
    if let metadata = header.metadata { lines.append("metadata: \(JSONValue.object(metadata).serialized())") }
    if !header.tags.isEmpty {
        lines.append("tags: \(JSONValue.array(header.tags.map { .string($0) }).serialized())")
    }
    for (list, recipients) in [("cc", header.cc), ("bcc", header.bcc), ("archive", header.archive)] {
        for recipient in recipients {
            lines.append("\(list): \(quoted(recipient.email)) \(recipient.name.map(quoted) ?? "null")")
        }
    }
    let options = header.options
    let flags: [(String, Bool?)] = [
        ("open_tracking", options.openTracking), ("click_tracking", options.clickTracking),
        ("transactional", options.transactional), ("sandbox", options.sandbox),
        ("skip_suppression", options.skipSuppression), ("inline_css", options.inlineCSS),
    ]
    for (name, flag) in flags {
        if let flag { lines.append("options.\(name): \(flag)") }
    }
    if let ipPool = options.ipPool { lines.append("options.ip_pool: \(quoted(ipPool))") }
    return lines.map { $0 + "\n" }.joined()
}

/// The golden text for a parse outcome: the dump, or the reply line.
func goldenText(_ result: Result<APIHeader, SMTPReply>) -> String {
    switch result {
    case .success(let header): return dump(header)
    case .failure(let reply): return reply.description + "\n"
    }
}

enum Paths {
    /// Tests/SMTPAPITests/
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let fixtures = testsDirectory.appendingPathComponent("Fixtures")
}
