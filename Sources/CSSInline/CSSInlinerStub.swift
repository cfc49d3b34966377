// TEMPORARY integration stub; removed when the CSSInline branch lands.
public struct CSSLimits: Sendable, Hashable { public init() {} }
public struct CSSInlineError: Error, Hashable, Sendable, CustomStringConvertible { public var description: String { "" } }
public struct CSSInliner: Sendable {
    public init(extraCSS: String? = nil, limits: CSSLimits = CSSLimits()) {}
    public func inline(_ html: [UInt8]) throws(CSSInlineError) -> [UInt8] { html }
}
