import Foundation
import LinkScan
import Linkstamp
import MIME
import SMTPAPI
import Tracking

/// `transmission`: `Engine.prepare` then `render` of every copy, through the public API. Bit 0 of
/// the first byte turns the configured tracking on; the rest is the message.
/// - Refused: the reply is a well-formed SMTP reply.
/// - Tracking off (and no `inline_css`): every copy is the input with only the documented header
///   edits: `X-MSYS-API` and `Bcc` fields removed, the `cc` list added to `Cc`, and `Cc`,
///   `X-Linkstamp-IP-Pool`, `X-Linkstamp-Sandbox` and the copy's own `Bcc` added at the end of the
///   header; the body, from the end of the header block on, is byte for byte the input's.
/// - Tracking on: every tracking URL in a copy's header and decoded body parts decodes with the
///   engine's key ring to this transmission and this copy (or the archive copies' link owner),
///   and every click target is a link the scanners find in the input.
public enum TransmissionCheck {
    static let domain = "click.fuzz.example"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let transmissionID: UInt64 = 0x1234_5678_9ABC
    static let envelope = Envelope(sender: "sender@example.com", recipients: ["Reader@Example.org"])
    /// Copies rendered per input (a message may list a thousand).
    static let maxCopies = 4

    static let engines: (off: Engine, on: Engine) = {
        func make(tracking: Bool) -> Engine {
            var configuration = Configuration()
            configuration.trackingDomain = domain
            configuration.keyRingPath = "/nonexistent/linkstamp-fuzz/keys"
            configuration.openTracking = tracking
            configuration.clickTracking = tracking
            configuration.unsubscribeHTTPS = tracking
            configuration.unsubscribeMailto = nil
            do {
                return try Engine(configuration: configuration, keyRing: TokenCheck.ring)
            } catch {
                invariantBroken("the fuzz engine cannot be built: \(error)")
            }
        }
        return (make(tracking: false), make(tracking: true))
    }()

    public static func check(_ data: UnsafeRawBufferPointer) {
        guard let mode = data.first else { return }
        let message = [UInt8](data.dropFirst())
        let tracking = mode & 1 == 1
        let engine = tracking ? engines.on : engines.off
        let transmission: Transmission
        do {
            transmission = try engine.prepare(
                message: message, envelope: envelope, now: now, transmissionID: transmissionID)
        } catch {
            SMTPAPICheck.checkReply(error)
            return
        }
        require(!transmission.copies.isEmpty || !transmission.suppressed.isEmpty, "no copies")
        for copy in transmission.copies.prefix(maxCopies) {
            let output: [UInt8]
            do {
                output = try transmission.renderedBytes(copy)
            } catch {
                invariantBroken("render of a prepared copy failed: \(error)")
            }
            let options = transmission.options
            if !tracking && !options.clickTracking && !options.openTracking && !options.inlineCSS {
                checkUntracked(output, input: message, copy: copy, api: transmission.api)
            } else if tracking {
                checkTracked(output, input: message, copy: copy, transmission: transmission)
            }
        }
    }

    // MARK: tracking off

    static func checkUntracked(_ output: [UInt8], input: [UInt8], copy: Copy, api: APIHeader) {
        guard let structure = try? MessageStructure.parse(input), let top = structure.parts.first?.header else {
            invariantBroken("a prepared message does not parse")
        }
        let headerEnd = top.range.upperBound
        let tail = input[headerEnd...]
        require(
            output.count >= tail.count && output.suffix(tail.count).elementsEqual(tail),
            "copy \(copy.index): the bytes after the header block changed")
        let removed = (top.all("x-msys-api", in: input) + top.all("bcc", in: input)).map(\.range).sorted {
            $0.lowerBound < $1.lowerBound
        }
        var expectedHead: [UInt8] = []
        var position = 0
        for range in removed {
            expectedHead += input[position..<range.lowerBound]
            position = range.upperBound
        }
        expectedHead += input[position..<headerEnd]
        var checkedHead = expectedHead
        if !api.cc.isEmpty, let cc = top.first("cc", in: input) {
            // The Cc field is rewritten in place: compare up to it.
            let removedBefore = removed.filter { $0.upperBound <= cc.range.lowerBound }.map(\.count).reduce(0, +)
            checkedHead = Array(expectedHead.prefix(cc.range.lowerBound - removedBefore))
            require(output.starts(with: checkedHead), "copy \(copy.index): header before Cc changed")
            return
        }
        require(
            output.starts(with: checkedHead) && checkedHead.count + tail.count <= output.count,
            "copy \(copy.index): original header fields changed: \(show(output.prefix(300), limit: 300))")
        let added = Array(output[checkedHead.count..<(output.count - tail.count)])
        checkAddedFields(added, lineEnding: top.lineEnding, copy: copy)
    }

    /// Fields the engine appends: whole lines of the documented names (or their fold lines).
    static func checkAddedFields(_ added: [UInt8], lineEnding: LineEnding, copy: Copy) {
        let eol = lineEnding.bytes
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var i = 0
        while i < added.count {
            if added[i...].starts(with: eol) {
                lines.append(added[start..<i])
                i += eol.count
                start = i
            } else {
                i += 1
            }
        }
        require(start == added.count, "copy \(copy.index): added header text does not end a line: \(show(added))")
        let names = ["Cc: ", "Bcc: ", "X-Linkstamp-IP-Pool: ", "X-Linkstamp-Sandbox: yes"].map { Array($0.utf8) }
        for (n, line) in lines.enumerated() {
            require(
                !line.contains(0x0A) && !line.contains(0x0D), "copy \(copy.index): a line break inside \(show(line))")
            if line.isEmpty && n == 0 { continue }  // ends an original header that lacked its line break
            let known = names.contains { line.starts(with: $0) } || (n > 0 && line.first == 0x20)
            require(known, "copy \(copy.index): undocumented header line \(show(line)) in \(show(added))")
        }
    }

    // MARK: tracking on

    static func checkTracked(_ output: [UInt8], input: [UInt8], copy: Copy, transmission: Transmission) {
        let marker = Array("https://\(domain)/".utf8)
        guard let inputStructure = try? MessageStructure.parse(input) else {
            invariantBroken("a prepared message does not parse")
        }
        let (inputHTML, inputText) = inputStructure.trackableBodyParts()
        let inputBodies = [inputHTML, inputText].compactMap { $0 }.map { inputStructure.decodedBody(of: $0, in: input) }
        // A message that already spells the tracking host could hold URLs we did not make.
        if containsCaseInsensitive(input, domain)
            || inputBodies.contains(where: { containsCaseInsensitive($0, domain) })
        {
            return
        }
        var targets = Set<String>()
        if let html = inputHTML {
            targets.formUnion(HTMLLinkScanner.scan(inputStructure.decodedBody(of: html, in: input)).links.map(\.target))
        }
        if let text = inputText {
            targets.formUnion(TextLinkScanner.scan(inputStructure.decodedBody(of: text, in: input)).links.map(\.target))
        }
        guard let structure = try? MessageStructure.parse(output), let top = structure.parts.first?.header else {
            invariantBroken("copy \(copy.index) does not parse")
        }
        var places: [[UInt8]] = [Array(output[top.range])]
        let (html, text) = structure.trackableBodyParts()
        for part in [html, text].compactMap({ $0 }) { places.append(structure.decodedBody(of: part, in: output)) }
        let owners = Set(
            [copy.normalizedAddress]
                + (copy.rcptType == .archive
                    ? transmission.copies.filter { $0.rcptType == nil }.map(\.normalizedAddress)
                        + transmission.suppressed.filter { $0.rcptType == nil }.map(\.normalizedAddress) : []))
        for bytes in places {
            var from = 0
            while let hit = firstIndex(of: marker, in: bytes[from...]) {
                var end = hit + marker.count
                while end < bytes.count, isURLByte(bytes[end]) { end += 1 }
                let url = String(decoding: bytes[hit..<end], as: UTF8.self)
                from = end
                let event: TrackedEvent
                do {
                    event = try TrackingDecoder.decode(
                        url: url, keyRing: TokenCheck.ring, now: Int64(now.timeIntervalSince1970))
                } catch {
                    invariantBroken("copy \(copy.index): tracked URL \(url) does not decode: \(error)")
                }
                require(
                    event.transmissionID == String(transmissionID),
                    "copy \(copy.index): \(url) of transmission \(event.transmissionID)")
                require(
                    owners.contains(event.rcptTo),
                    "copy \(copy.index) (\(copy.normalizedAddress)): \(url) is for \(event.rcptTo)")
                if let target = event.targetLinkURL {
                    require(
                        targets.contains(target),
                        "copy \(copy.index): \(url) leads to \(target), not a link of the input")
                }
            }
        }
    }

    /// The bytes of a tracking URL's path (base64url tokens, sublinks, slashes).
    static func isURLByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "/"):
            return true
        default:
            return false
        }
    }
}
