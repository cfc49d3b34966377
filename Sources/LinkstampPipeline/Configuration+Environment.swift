import Foundation

extension Configuration {
    /// `$XDG_CONFIG_HOME/linkstamp/keys`, or `~/.config/linkstamp/keys`, from the process's
    /// environment. Reads the two variables with getenv(3): a filter process does not copy its
    /// whole environment into a dictionary (ProcessInfo) for every `Configuration` it makes.
    public static func defaultKeyRingPath() -> String {
        func variable(_ name: String) -> String? {
            guard let value = getenv(name), value.pointee != 0 else { return nil }
            return String(cString: value)
        }
        if let xdg = variable("XDG_CONFIG_HOME") { return xdg + "/linkstamp/keys" }
        return (variable("HOME") ?? NSHomeDirectory()) + "/.config/linkstamp/keys"
    }
}
