import Foundation
import MIME
import SMTPAPI
import Testing
import Tracking
@testable import Linkstamp

/// Messages of odd shape (issue 9 items 7, 8, 11): where added header fields go, what has no
/// header, and what a copy says about the parts it left untracked.
@Suite struct MessageShapeTests {
    static let envelope = Envelope(sender: "s@example.com", recipients: ["r@example.org"])

    func copy(_ message: [UInt8], engine: Engine? = nil) throws -> [UInt8] {
        let transmission = try (engine ?? Fixture.engine()).prepare(message: message, envelope: Self.envelope, now: Fixture.now)
        return try transmission.renderedBytes(transmission.copies[0])
    }

    func lines(_ bytes: [UInt8]) -> [String] { bytes.text.components(separatedBy: "\n") }

    // MARK: - Item 7: added fields stay in the header block

    /// The repro, byte for byte: the header ends at a line without a colon, tracking
    /// rewrites the body, and List-Unsubscribe used to be appended after the body.
    @Test func fieldsGoBeforeALineWithoutAColonThatEndsTheHeader() throws {
        let message = Fixture.message(
            "X-MSYS-API: {\"options\":{\"click_tracking\":true}}\nno colon here\nFrom: a@example.com\n\nHi http://example.com/x\n")
        let output = lines(try copy(message))
        #expect(output.count == 7)
        #expect(output[0].hasPrefix("List-Unsubscribe: <https://t.example.net/u/"))
        #expect(output[1] == "List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        #expect(Array(output[2...4]) == ["no colon here", "From: a@example.com", ""])
        #expect(output[5].hasPrefix("Hi https://t.example.net/f/"))
        #expect(!output[5].contains("example.com/x"))
        #expect(output[6] == "")
    }

    /// The same with a stray word after ordinary fields and a CRLF message: every byte before
    /// the stray line, then the added fields, then the rest.
    @Test func strayWordAfterFieldsKeepsEveryOriginalByteAroundTheAddedFields() throws {
        let head = "From: a@example.com\r\nX-MSYS-API: {\"options\":{\"click_tracking\":true}}\r\nSubject: s\r\n"
        let rest = "stray\r\nTo: r@example.org\r\n\r\nSee http://example.com/x today\r\n"
        let output = try copy(Fixture.message(head + rest)).text
        let kept = "From: a@example.com\r\nSubject: s\r\n"
        #expect(output.hasPrefix(kept + "List-Unsubscribe: <https://t.example.net/u/"))
        let afterFields = output.components(separatedBy: "List-Unsubscribe=One-Click\r\n")
        #expect(afterFields.count == 2)
        #expect(afterFields.last?.hasPrefix("stray\r\nTo: r@example.org\r\n\r\nSee https://t.example.net/f/") == true)
        #expect(afterFields.last?.hasSuffix(" today\r\n") == true)
    }

    /// A body part whose header ends at a line that is not a field, re-encoded quoted-printable
    /// (a line too long once tracked): its new Content-Transfer-Encoding goes before the body.
    @Test func partFieldGoesBeforeTheBodyOfAPartWithoutSeparator() throws {
        let filler = String(repeating: "w", count: 990)
        let message = Fixture.message(
            "From: a@example.com\nX-MSYS-API: {\"options\":{\"click_tracking\":true,\"transactional\":true}}\n"
                + "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n"
                + "stray line\n\(filler) http://example.com/x\n--b--\n")
        let output = try copy(message).text
        let part = output.components(separatedBy: "--b\n")
        #expect(part.count == 2)
        #expect(part.last?.hasPrefix("Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\nstray line\n") == true)
        #expect(output.hasSuffix("\n--b--\n"))
    }

    /// A header of fields only (no empty line, no body) with an HTML pixel to add: the fields
    /// come before the body the pixel starts.
    @Test func fieldsGoBeforeAnInsertedBodyWhenThereWasNone() throws {
        let message = Fixture.message(
            "X-MSYS-API: {\"options\":{\"open_tracking\":true}}\nContent-Type: text/html\nFrom: a@example.com\n")
        let output = lines(try copy(message))
        #expect(Array(output[0...1]) == ["Content-Type: text/html", "From: a@example.com"])
        #expect(output[2].hasPrefix("List-Unsubscribe: <https://t.example.net/u/"))
        #expect(output[3] == "List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        #expect(output[4].hasPrefix("<img "))
    }
}
