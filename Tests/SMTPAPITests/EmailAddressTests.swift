import Testing

@testable import SMTPAPI

@Suite struct EmailAddressTests {
    @Test(arguments: [
        "a@example.com",
        "first.last+tag@sub.example.co.uk",
        "!#$%&'*+-/=?^_`{|}~@example.com",
        "user@localhost",
        "\"quoted local\"@example.com",
        "\"a\\\"b\\\\c\"@example.com",
        "\"a@b\"@example.com",
        "\"\"@example.com",
        "user@[192.0.2.1]",
        "user@[255.255.255.255]",
        "user@[IPv6:2001:db8::1]",
        "user@[ipv6:2001:db8:0:0:0:0:0:1]",
        "user@[IPv6:::1]",
        "user@[IPv6:::]",
        "user@[IPv6:::ffff:192.0.2.1]",
        "user@[tag:content]",
        "user@[-tag:x]",  // Ldh-str may start with "-"
        "用户@例子.广告",  // RFC 6531
        "josé@café.example",
        "a@xn--caf-dma.example",
        "a@1.2.3.4",  // numeric labels are LDH
        "a@a-b.c",
    ])
    func valid(address: String) {
        #expect(EmailAddress.isValid(address))
    }

    @Test(arguments: [
        "",
        "plain",
        "@example.com",
        "a@",
        "a@@example.com",
        "a@b@example.com",
        ".a@example.com",
        "a.@example.com",
        "a..b@example.com",
        "a b@example.com",
        " a@example.com",
        "a@example.com ",
        "a@example..com",
        "a@.example.com",
        "a@example.com.",
        "a@-example.com",
        "a@example-.com",
        "a@exa_mple.com",
        "a@exa mple.com",
        "Name <a@example.com>",
        "<a@example.com>",
        "a(comment)@example.com",
        "\"unterminated@example.com",
        "\"a\"b@example.com",
        "\"a\nb\"@example.com",
        "\"a\\\u{1}\"@example.com",
        "a\r\n@example.com",
        "a@[192.0.2.256]",
        "a@[192.0.2]",
        "a@[1.2.3.4.5]",
        "a@[IPv6:2001:db8::1::2]",
        "a@[IPv6:1:2:3:4:5:6:7]",
        "a@[IPv6:1:2:3:4:5:6:7:8:9]",
        "a@[IPv6:1:2:3:4:5:6:7::]",
        "a@[IPv6:12345::1]",
        "a@[IPv6:1::2:]",
        "a@[IPv6:]",
        "a@[tag:]",
        "a@[tag-:x]",
        "a@[tag:a[b]",
        "a@[]",
        "a@[192.0.2.1",
    ])
    func invalid(address: String) {
        #expect(!EmailAddress.isValid(address))
    }

    @Test func lengthLimits() {
        let local64 = String(repeating: "a", count: 64)
        #expect(EmailAddress.isValid(local64 + "@example.com"))
        #expect(!EmailAddress.isValid(local64 + "a@example.com"))
        // 64 octets, not characters: 32 × "é" fits, 33 does not.
        #expect(EmailAddress.isValid(String(repeating: "é", count: 32) + "@example.com"))
        #expect(!EmailAddress.isValid(String(repeating: "é", count: 33) + "@example.com"))
        // Quotes count in the local part.
        #expect(!EmailAddress.isValid("\"" + String(repeating: "a", count: 63) + "\"@example.com"))
        let label63 = String(repeating: "b", count: 63)
        #expect(EmailAddress.isValid("a@\(label63).com"))
        #expect(!EmailAddress.isValid("a@\(label63)b.com"))
        // Domain of exactly 255 octets: 4 × 63 + 3 dots.
        let domain255 = [label63, label63, label63, label63].joined(separator: ".")
        #expect(domain255.utf8.count == 255)
        #expect(EmailAddress.isValid("a@" + domain255))
        #expect(!EmailAddress.isValid("a@" + domain255 + "c"))
    }
}
