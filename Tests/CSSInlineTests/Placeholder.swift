import Testing
@testable import CSSInline
@Test func moduleBuilds() {}
