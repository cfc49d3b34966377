import FuzzChecks

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `linkstamp-fuzz TARGET [libFuzzer options and corpus folders]`: runs libFuzzer on one target
/// of `FuzzTargets.all`. `linkstamp-fuzz --list` prints the names; `linkstamp-fuzz --seeds TARGET
/// DIR` writes the target's generated seed inputs (tokens sealed with the fixed fuzz key) to DIR.
@main
enum LinkstampFuzz {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2 else { usage() }
        switch arguments[1] {
        case "--list":
            for target in FuzzTargets.all { print(target.name) }
            return
        case "--seeds":
            guard arguments.count == 4 else { usage() }
            writeSeeds(target: arguments[2], folder: arguments[3])
            return
        default:
            break
        }
        // libFuzzer's -fork and -jobs modes start this program again with the arguments it
        // parsed (the target name is not among them): the target travels in the environment.
        var rest = Array(arguments.dropFirst())
        let name: String
        if let first = rest.first, FuzzTargets.check(named: first) != nil {
            name = first
            rest.removeFirst()
        } else if let inherited = getenv(targetVariable) {
            name = String(cString: inherited)
        } else {
            printError("linkstamp-fuzz: unknown target '\(arguments[1])'")
            usage()
        }
        guard let check = FuzzTargets.check(named: name) else { usage() }
        setenv(targetVariable, name, 1)
        selected = check
        // libFuzzer sees the program name and everything after the target name.
        var argv: [UnsafeMutablePointer<CChar>?] = ([arguments[0]] + rest).map { strdup($0) }
        argv.append(nil)
        var argc = Int32(argv.count - 1)
        let status = argv.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var base = buffer.baseAddress
            return LLVMFuzzerRunDriver(&argc, &base, testOneInput)
        }
        exit(status)
    }

    static let targetVariable = "LINKSTAMP_FUZZ_TARGET"

    static func usage() -> Never {
        printError("usage: linkstamp-fuzz TARGET [libFuzzer options] [CORPUS...] | --list | --seeds TARGET DIR")
        exit(64)
    }

    static func writeSeeds(target: String, folder: String) {
        let seeds = target == "token" ? FuzzChecks.TokenCheck.seeds() : []
        for (index, seed) in seeds.enumerated() {
            let path = folder + "/generated-\(index)"
            guard let file = fopen(path, "wb") else {
                printError("linkstamp-fuzz: cannot write \(path)")
                exit(73)
            }
            _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
            fclose(file)
        }
    }
}

func printError(_ text: String) {
    let line = Array((text + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// The chosen target's check; set once before libFuzzer starts, read by its single thread.
nonisolated(unsafe) var selected: (@Sendable (UnsafeRawBufferPointer) -> Void)?

/// libFuzzer's per-input callback.
let testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    selected?(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// libFuzzer's entry point for programs with their own `main` (in libclang_rt.fuzzer).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32
