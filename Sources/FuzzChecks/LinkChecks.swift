import LinkScan

/// `html`: the HTML link scanner. Every link's range lies inside the input, between its quotes
/// (or unquoted), in order; its target is an absolute http(s) URL spelled by those bytes; pixel
/// offsets sit after `>` / at `</body`; splicing each range back gives the input, and replacing
/// every link by another URL finds the same links at the shifted ranges.
public enum HTMLCheck {
    public static func check(_ data: UnsafeRawBufferPointer) {
        let html = [UInt8](data)
        let result = HTMLLinkScanner.scan(html)
        LinkInvariants.checkLinks(result.links, in: html, isHTML: true)
        if let initial = result.initialPixelOffset {
            require(
                initial > 0 && initial <= html.count && html[initial - 1] == UInt8(ascii: ">"),
                "initial pixel offset \(initial) not after a '>'")
        }
        let open = result.openPixelOffset
        require(open >= 0 && open <= html.count, "open pixel offset \(open) of \(html.count)")
        if open < html.count {
            require(
                open + 6 <= html.count && html[open] == UInt8(ascii: "<") && html[open + 1] == UInt8(ascii: "/")
                    && String(decoding: html[open + 2..<open + 6], as: UTF8.self).lowercased() == "body",
                "open pixel offset \(open) not at '</body': \(show(html[open...].prefix(20)))")
        }
        let identity = LinkInvariants.splice(html, result.links.map { ($0.replaceRange, Array(html[$0.replaceRange])) })
        require(identity == html, "identity rewrite changed the input")

        let (rewritten, placeholders, shift) = LinkInvariants.replaceTargets(html, result.links)
        let again = HTMLLinkScanner.scan(rewritten)
        LinkInvariants.checkSameLinks(result.links, again.links, placeholders: placeholders, in: rewritten)
        require(again.initialPixelOffset == result.initialPixelOffset.map(shift), "initial pixel moved after rewrite")
        require(again.openPixelOffset == shift(result.openPixelOffset), "open pixel moved after rewrite")
    }
}

/// `text`: the plain-text link scanner. Same as `html`, and a text link's target is exactly its
/// bytes; annotation removals are `[[…]]`, in order, apart from links and from each other.
public enum TextCheck {
    public static func check(_ data: UnsafeRawBufferPointer) {
        let text = [UInt8](data)
        let result = TextLinkScanner.scan(text)
        LinkInvariants.checkLinks(result.links, in: text, isHTML: false)
        var previous = 0
        for removal in result.removals {
            require(
                removal.lowerBound >= previous && removal.upperBound <= text.count, "removal \(removal) out of order")
            require(
                removal.count >= 4 && text[removal].starts(with: [0x5B, 0x5B])
                    && text[removal].suffix(2).elementsEqual([0x5D, 0x5D]),
                "removal \(removal) is not [[…]]: \(show(text[removal]))")
            require(!result.links.contains { $0.replaceRange.overlaps(removal) }, "removal \(removal) overlaps a link")
            previous = removal.upperBound
        }
        let identity = LinkInvariants.splice(text, result.links.map { ($0.replaceRange, Array(text[$0.replaceRange])) })
        require(identity == text, "identity rewrite changed the input")

        // A URL inside a bracket that is not an annotation (`[[data-msys-sublink=http://]&]]`) is
        // a link, and replacing it can turn the bracket into an annotation that hides it: the
        // re-scan means nothing once the text has `[[`.
        guard firstIndex(of: [0x5B, 0x5B], in: text[...]) == nil else { return }
        let (rewritten, placeholders, shift) = LinkInvariants.replaceTargets(text, result.links)
        let again = TextLinkScanner.scan(rewritten)
        LinkInvariants.checkSameLinks(result.links, again.links, placeholders: placeholders, in: rewritten)
        require(
            again.removals == result.removals.map { shift($0.lowerBound)..<shift($0.upperBound) },
            "removals moved after rewrite: \(result.removals) -> \(again.removals)")
    }
}

enum LinkInvariants {
    static let asciiWhitespace: Set<UInt8> = [0x09, 0x0A, 0x0C, 0x0D, 0x20]

    static func checkLinks(_ links: [FoundLink], in bytes: [UInt8], isHTML: Bool) {
        let limits = ScanLimits()
        require(links.count <= limits.maxLinks, "\(links.count) links")
        var previous = 0
        for link in links {
            let range = link.replaceRange
            require(
                range.lowerBound >= previous && range.upperBound <= bytes.count && !range.isEmpty,
                "link range \(range) out of order or outside 0..<\(bytes.count)")
            previous = range.upperBound
            let raw = bytes[range]
            let target = Array(link.target.utf8)
            let lowered = link.target.prefix(8).lowercased()
            require(lowered.hasPrefix("http://") || lowered.hasPrefix("https://"), "target \(link.target) not http(s)")
            require(!target.contains { $0 < 0x20 || $0 == 0x7F }, "target with a control byte: \(show(target))")
            require(target.count <= limits.maxURLBytes, "target of \(target.count) bytes")
            require(link.name.utf8.count <= limits.maxLinkNameBytes, "link name of \(link.name.utf8.count) bytes")
            if let sublink = link.sublink { require(!sublink.isEmpty, "empty sublink") }
            if !isHTML {
                require(
                    link.source == .text && link.quote == nil,
                    "text link \(link.source) quote \(String(describing: link.quote))")
                require(target.elementsEqual(raw), "text target \(show(target)) is not its bytes \(show(raw))")
                continue
            }
            require(link.source != .text, "html link with source text")
            if let quote = link.quote {
                require(quote == 0x22 || quote == 0x27, "quote byte \(quote)")
                require(
                    range.lowerBound > 0 && bytes[range.lowerBound - 1] == quote
                        && range.upperBound < bytes.count && bytes[range.upperBound] == quote,
                    "quoted value \(range) is not between its quotes")
                require(!raw.contains(quote), "quoted value contains its quote")
            } else {
                require(
                    !raw.contains { asciiWhitespace.contains($0) || $0 == UInt8(ascii: ">") },
                    "unquoted value \(show(raw)) contains a space or '>'")
            }
            if raw.contains(UInt8(ascii: "&")) {
                // Character references only ever shrink (basic named ones and numeric).
                require(target.count <= raw.count, "target \(show(target)) longer than its value \(show(raw))")
            } else {
                var spelled = Array(raw)
                while let first = spelled.first, asciiWhitespace.contains(first) { spelled.removeFirst() }
                while let last = spelled.last, asciiWhitespace.contains(last) { spelled.removeLast() }
                spelled.removeAll { $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
                require(target == spelled, "target \(show(target)) is not the href value \(show(raw))")
            }
        }
    }

    /// `bytes` with each range replaced (ranges sorted and disjoint).
    static func splice(_ bytes: [UInt8], _ replacements: [(Range<Int>, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var position = 0
        for (range, replacement) in replacements {
            out += bytes[position..<range.lowerBound]
            out += replacement
            position = range.upperBound
        }
        out += bytes[position...]
        return out
    }

    /// Every link's bytes replaced by a plain URL of another length; returns the new bytes, the
    /// URLs and the map from old offsets (outside link ranges) to new ones.
    static func replaceTargets(_ bytes: [UInt8], _ links: [FoundLink]) -> ([UInt8], [String], @Sendable (Int) -> Int) {
        let placeholders = links.indices.map { "https://fuzz.invalid/\($0)" }
        let rewritten = splice(bytes, zip(links, placeholders).map { ($0.replaceRange, Array($1.utf8)) })
        let changes = zip(links, placeholders).map { ($0.replaceRange, $1.utf8.count - $0.replaceRange.count) }
        let shift: @Sendable (Int) -> Int = { offset in
            var moved = offset
            for (range, delta) in changes where range.upperBound <= offset { moved += delta }
            return moved
        }
        return (rewritten, placeholders, shift)
    }

    static func checkSameLinks(
        _ before: [FoundLink], _ after: [FoundLink], placeholders: [String], in rewritten: [UInt8]
    ) {
        require(
            after.count == before.count,
            "\(before.count) links, \(after.count) after replacing their URLs: \(show(rewritten, limit: 400))")
        var delta = 0
        for (index, (old, new)) in zip(before, after).enumerated() {
            let start = old.replaceRange.lowerBound + delta
            let expected = start..<(start + placeholders[index].utf8.count)
            delta += placeholders[index].utf8.count - old.replaceRange.count
            require(
                new.replaceRange == expected && new.target == placeholders[index],
                "link \(index) found at \(new.replaceRange) as \(new.target), expected \(expected)")
            require(
                new.quote == old.quote && new.source == old.source && new.name == old.name
                    && new.isUnsubscribe == old.isUnsubscribe && new.sublink == old.sublink,
                "link \(index) changed attributes after replacing its URL")
        }
    }
}
