import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway PostgreSQL cluster for one test: `initdb` into a temporary folder (once per test
/// process, then copied), `pg_ctl start` listening on 127.0.0.1 on a free port with its socket in
/// that folder, stopped and removed by `stop()`. PostgreSQL refuses to run as root: as root the
/// binaries run as the `postgres` user (`runuser`), with the folder owned by it.
///
/// When PostgreSQL is not installed `start()` returns nil after printing why (the test then does
/// nothing), but when the environment has `CI` set that is a recorded failure.
struct Cluster {
    static let user = "linkstamp"
    /// Has a `#` (percent-encoded in the URL) so the URL parser's decoding is exercised.
    static let password = "pg#secret"

    let directory: String
    let data: String
    let port: Int
    let bin: String

    /// `postgresql://…` for this cluster (TCP on 127.0.0.1, no TLS).
    var url: String {
        "postgresql://\(Cluster.user):pg%23secret@127.0.0.1:\(port)/postgres?sslmode=disable&connect_timeout=5"
    }

    /// The server log (statements too when started with `logStatements`).
    var log: String { (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? "" }

    static func binaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted()
        for version in versions.reversed()
        where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        return nil
    }

    static var asRoot: Bool { geteuid() == 0 }

    /// The initialized data folder every test copies (made once per process).
    static let template = Mutex<String?>(nil)

    static func start(logStatements: Bool = false) throws -> Cluster? {
        guard let bin = binaries() else {
            if ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb) but CI is set")
            } else {
                print("skipping PostgreSQL test: PostgreSQL is not installed (apt install postgresql)")
            }
            return nil
        }
        let template = try templateData(bin: bin)
        // A port found free can be taken by a parallel test before the server binds it: a start
        // that fails is retried on a fresh folder and port (the log of the last try is reported).
        var failure = ""
        for _ in 0..<3 {
            let directory = try makeDirectory("linkstamp-pg-")
            let data = directory + "/data"
            try run("/bin/cp", ["-a", template, data])
            if asRoot { try run("/bin/chown", ["-R", "postgres:postgres", directory]) }
            let port = try freePort()
            var options =
                "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off"
                + " -c shared_buffers=16MB -c max_connections=50"
            if logStatements { options += " -c log_statement=all" }
            let cluster = Cluster(directory: directory, data: data, port: port, bin: bin)
            do {
                try cluster.postgres(
                    "pg_ctl", ["-D", data, "-l", directory + "/server.log", "-w", "-t", "60", "-o", options, "start"])
                return cluster
            } catch {
                failure = "pg_ctl start failed: \(error)\n\(cluster.log)"
                cluster.stop()
            }
        }
        throw ClusterError(failure)
    }

    /// Stops the server (immediate mode: nothing to keep) and removes the folder.
    func stop() {
        try? postgres("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `psql -tA -c sql` and returns its output, trimmed.
    func psql(_ sql: String) throws -> String {
        let output = try Cluster.run(
            bin + "/psql",
            [
                "-h", "127.0.0.1", "-p", String(port), "-U", Cluster.user, "-d", "postgres", "-X", "-q", "-tA", "-c",
                sql,
            ],
            environment: ["PGPASSWORD": Cluster.password])
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func postgres(_ tool: String, _ arguments: [String]) throws {
        if Cluster.asRoot {
            try Cluster.run("/usr/sbin/runuser", ["-u", "postgres", "--", bin + "/" + tool] + arguments)
        } else {
            try Cluster.run(bin + "/" + tool, arguments)
        }
    }

    static func templateData(bin: String) throws -> String {
        try template.withLock { cached in
            if let cached { return cached }
            let directory = try makeDirectory("linkstamp-pg-template-")
            let data = directory + "/data"
            let passwordFile = directory + "/password"
            try Cluster.password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
            if asRoot { try run("/bin/chown", ["-R", "postgres:postgres", directory]) }
            let arguments = [
                "-D", data, "-U", user, "--pwfile=" + passwordFile, "-A", "scram-sha-256", "-E", "UTF8",
                "--locale=C", "--no-sync",
            ]
            if asRoot {
                try run("/usr/sbin/runuser", ["-u", "postgres", "--", bin + "/initdb"] + arguments)
            } else {
                try run(bin + "/initdb", arguments)
            }
            atexit { Cluster.removeTemplate() }
            cached = data
            return data
        }
    }

    static func removeTemplate() {
        guard let data = template.withLock({ $0 }) else { return }
        try? FileManager.default.removeItem(atPath: (data as NSString).deletingLastPathComponent)
    }

    static func makeDirectory(_ prefix: String) throws -> String {
        let path = "/tmp/" + prefix + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    /// A port that was free a moment ago (bound to 0 and released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw ClusterError("cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs a program to its end (posix_spawn and waitpid: Foundation's `Process` can miss the
    /// exit of a child whose own child daemonizes, as `pg_ctl start` does), its output in files.
    @discardableResult
    static func run(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let base = "/tmp/linkstamp-pg-run-" + UUID().uuidString.prefix(8)
        defer {
            unlink(base + ".out")
            unlink(base + ".err")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, base + ".out", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, base + ".err", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Nothing else is inherited: while other suites hold thousands of sockets open (the
        // SMTP door's connection flood), a postmaster that inherited them would find too few
        // descriptors left ("insufficient file descriptors available to start server process").
        // (glibc's posix_spawn_file_actions_addclosefrom_np is not visible from Swift, so every
        // descriptor of this process is marked close-on-exec instead: harmless for its owners.)
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        for descriptor in 3..<Int32(clamping: min(limit.rlim_cur, 1 << 20)) {
            let flags = fcntl(descriptor, F_GETFD)
            if flags >= 0, flags & FD_CLOEXEC == 0 { _ = fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC) }
        }
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard spawned == 0 else { throw ClusterError("cannot run \(path): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw ClusterError("cannot wait for \(path)") }
        }
        let out = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        guard status & 0x7F == 0, (status >> 8) & 0xFF == 0 else {
            throw ClusterError("\(path) \(arguments.joined(separator: " ")) failed (status \(status)): \(err)")
        }
        return out
    }
}

struct ClusterError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
