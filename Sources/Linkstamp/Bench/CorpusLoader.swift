import Foundation
import MIME

/// Messages for corpus runs (`linkstamp bench`, the benchmarks): every `.eml` file of a folder
/// as it is, and every `.html` document wrapped in a one-part message.
public enum CorpusLoader {
    /// One input of a corpus run.
    public struct Item: Sendable {
        /// File name inside the folder.
        public var name: String
        /// The message bytes (an HTML document already wrapped).
        public var message: [UInt8]
        /// For `.html` inputs, the document itself.
        public var html: [UInt8]?

        /// An input; `html` is the document when `message` wraps one.
        public init(name: String, message: [UInt8], html: [UInt8]? = nil) {
            self.name = name
            self.message = message
            self.html = html
        }
    }

    /// The `.eml` and `.html` files of `folder` (not recursive), sorted by name.
    public static func load(folder: String) throws -> [Item] {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        var items: [Item] = []
        for name in names where name.hasSuffix(".eml") || name.hasSuffix(".html") {
            guard let data = FileManager.default.contents(atPath: folder + "/" + name) else { continue }
            let bytes = Array(data)
            if name.hasSuffix(".html") {
                items.append(Item(name: name, message: wrap(html: bytes), html: bytes))
            } else {
                items.append(Item(name: name, message: bytes, html: nil))
            }
        }
        return items
    }

    /// A newsletter-shaped message around an HTML document: tracking on, not transactional,
    /// sent 8bit (the engine re-encodes when a line would pass 998 octets).
    public static func wrap(html: [UInt8], inlineCSS: Bool = false) -> [UInt8] {
        let header = """
            From: "Newsletter" <news@example.com>\r
            To: reader@example.org\r
            Subject: Corpus document\r
            MIME-Version: 1.0\r
            X-MSYS-API: {"campaign_id": "corpus", "options": {"open_tracking": true, "click_tracking": true, "inline_css": \(inlineCSS)}}\r
            Content-Type: text/html; charset=utf-8\r
            Content-Transfer-Encoding: 8bit\r
            \r

            """
        return Array(header.utf8) + html
    }

    /// The HTML document a corpus input carries: an `.html` input's own bytes, or the decoded
    /// `text/html` body part of a message (`nil` when it has none or its structure is refused).
    public static func htmlDocument(of item: Item) -> [UInt8]? {
        if let html = item.html { return html }
        guard let structure = try? MessageStructure.parse(item.message),
            let index = structure.trackableBodyParts().html
        else { return nil }
        return structure.decodedBody(of: index, in: item.message)
    }
}
