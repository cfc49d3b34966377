import Testing
@testable import HTMLRewrite
@Test func moduleBuilds() {}
