import Linkstamp
import LinkstampFilterCommand

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// # linkstamp-filter (the executable)
//
// `linkstamp filter` for Postfix's pipe(8) and Exim, which start one process per message: the
// same arguments as after `linkstamp filter`, the same output, exit codes and stderr lines, in
// a binary without the argument parser and the servers' packages (NIO, Hummingbird,
// PostgreSQL). Every command line the fast path does not read (help, `--version`, an unknown or
// repeated option, `--name=value`, no `-f`), a configuration that cannot be read, and a
// configuration with `database_url` are handed, before standard input is touched, to
// `linkstamp filter` in the same folder (exec), which answers them as always.

/// `linkstamp` beside this executable (the folder of /proc/self/exe, else of argv[0]).
func fullBinaryPath() -> String {
    var folder = CommandLine.arguments.first ?? ""
    #if os(Linux)
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if count > 0 {
            folder = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    #endif
    guard let slash = folder.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "linkstamp" }
    return String(folder[...slash]) + "linkstamp"
}

/// Replaces this process with `linkstamp filter ARGUMENTS`; returns only when that fails.
func execFullFilter(_ arguments: [String]) -> Never {
    let path = fullBinaryPath()
    var argv: [UnsafeMutablePointer<CChar>?] = ([path, "filter"] + arguments).map { strdup($0) }
    argv.append(nil)
    execv(path, argv)
    let reason = String(cString: strerror(errno))
    printError("4.3.5 linkstamp-filter cannot run " + path + " for this command line or configuration: " + reason)
    exit(SysExit.tempFail)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let plain = FilterFastPath.parse(arguments[...]) else { execFullFilter(arguments) }
var configuration = Configuration()
if let path = configurationPath(plain.config) {
    do { configuration = try Configuration(contentsOf: path) } catch { execFullFilter(arguments) }
}
if configuration.databaseURL != nil { execFullFilter(arguments) }
FilterFastPath.runAndExit(plain, configuration: configuration, database: nil)
