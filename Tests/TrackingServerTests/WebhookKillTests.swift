import Foundation
import Linkstamp
import Synchronization
import TestSupport
import Testing

@testable import TrackingServer

#if canImport(Glibc)
    import Glibc
#endif

/// The real `linkstamp serve` binary as a child process, its port read from its log.
final class ServeProcess: Sendable {
    static var executable: URL? { LinkstampBinary.url }

    let process: Process
    let port: Int
    private let log: LogCollector

    private init(process: Process, port: Int, log: LogCollector) {
        self.process = process
        self.port = port
        self.log = log
    }

    /// Everything it wrote on standard error so far.
    var stderr: String { log.text }

    /// Starts `linkstamp serve --config CONFIG --listen 127.0.0.1:0 --events JOURNAL` and waits
    /// for its "listening" line.
    static func start(configuration: String, journal: String) async throws -> ServeProcess {
        let executable = try #require(executable, "the linkstamp executable is not built (swift build first)")
        let process = Process()
        process.executableURL = executable
        process.arguments = ["serve", "--config", configuration, "--listen", "127.0.0.1:0", "--events", journal]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "LINKSTAMP_CONFIG")
        process.environment = environment
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let log = LogCollector(pipe.fileHandleForReading)
        _ = await Wait.until(seconds: 60) { log.listeningPort != nil || !process.isRunning }
        guard let port = log.listeningPort else {
            process.terminate()
            throw StoreError("serve did not start: \(log.text)")
        }
        return ServeProcess(process: process, port: port, log: log)
    }

    func kill9() { _ = kill(process.processIdentifier, SIGKILL) }

    /// SIGTERM, then the exit status (nil: still running after 30 s, then killed).
    func terminate() async -> Int32? {
        _ = kill(process.processIdentifier, SIGTERM)
        let process = self.process
        guard await Wait.until(seconds: 30, { !process.isRunning }) else {
            kill9()
            return nil
        }
        return process.terminationStatus
    }
}

/// Collects a child's standard error on a thread of its own (so the child never blocks on it).
final class LogCollector: Sendable {
    private let collected = Mutex("")

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { return }
                collected.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
        }
    }

    var text: String { collected.withLock { $0 } }

    /// The port of `linkstamp serve`'s "listening" log line (`address=127.0.0.1:PORT`).
    var listeningPort: Int? {
        let text = self.text
        guard let range = text.range(of: "address=127.0.0.1:") else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }
}

/// The load of the kill test: which request got which answer.
final class LoadRecord: Sendable {
    private let state = Mutex<(next: Int, answers: [Int: Int])>((0, [:]))
    let total: Int
    init(total: Int) { self.total = total }

    /// The next request number to send, until `total`.
    func take() -> Int? {
        state.withLock { state in
            guard state.next < total else { return nil }
            defer { state.next += 1 }
            return state.next
        }
    }
    /// Records an answer; how many have been answered.
    func answered(_ index: Int, status: Int) -> Int {
        state.withLock {
            $0.answers[index] = status
            return $0.answers.count
        }
    }
    var answers: [Int: Int] { state.withLock { $0.answers } }
    var answeredCount: Int { state.withLock { $0.answers.count } }
}

/// Issue 11: "An event whose request got a response is in the journal: kill -9 during load loses
/// none", and delivery after the crash sends every journal event.
@Suite(.serialized) struct WebhookKillTests {
    @Test func killNineDuringLoadLosesNoAnsweredEventAndDeliveryResumes() async throws {
        let setup = try ServerTests.Setup(extra: "rate_limit_requests = 1000000")
        let transmission = try setup.engine().prepare(
            message: Array(ServerTests.message.utf8),
            envelope: Envelope(sender: "news@acme.example", recipients: ["reader@example.org"]))
        let copy = try transmission.renderedBytes(try #require(transmission.copies.first))
        let urls = try ServerTests.urls(in: copy).body
        try #require(urls.count == 4)
        let click = ServerTests.path(urls[1])
        let open = ServerTests.path(urls[3])

        // 2,000 clicks and opens from 16 clients at once, each with its own User-Agent, and a
        // SIGKILL as soon as 600 have been answered.
        let serve = try await ServeProcess.start(configuration: setup.configurationPath, journal: setup.journalPath)
        let load = LoadRecord(total: 2000)
        let port = serve.port
        async let finished: Void = RawHTTP.offPool {
            let group = DispatchGroup()
            for _ in 0..<16 {
                group.enter()
                Thread.detachNewThread {
                    while let index = load.take() {
                        let request =
                            "GET \(index % 2 == 0 ? click : open) HTTP/1.1\r\nHost: t.example.net\r\n"
                            + "User-Agent: load-\(index)\r\nConnection: close\r\n\r\n"
                        let result = RawHTTP.blockingRequest(port: port, request)
                        // The client that gets the 600th answer kills the server at once (from
                        // this thread: no wait on a busy task pool while the load goes on).
                        if !result.closedWithoutResponse, load.answered(index, status: result.status) == 600 {
                            serve.kill9()
                        }
                    }
                    group.leave()
                }
            }
            group.wait()
        }
        await finished
        serve.kill9()  // in case fewer than 600 were answered
        serve.process.waitUntilExit()
        #expect(load.answeredCount >= 600)
        #expect(serve.process.terminationReason == .uncaughtSignal && serve.process.terminationStatus == SIGKILL)

        let answers = load.answers
        #expect(answers.count >= 600 && answers.count < 2000, "killed mid-load: \(answers.count) answered")
        #expect(answers.values.allSatisfy { $0 == 200 || $0 == 302 }, "\(Set(answers.values))")

        // The journal: whole lines only, and one for every answered request.
        let data = try #require(FileManager.default.contents(atPath: setup.journalPath))
        #expect(data.last == 0x0A, "the journal ends with a whole line")
        var agents: Set<String> = []
        var eventIDs: [String] = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let object = try Support.json(String(line))
            let event = try #require((object["msys"] as? [String: Any])?["track_event"] as? [String: Any])
            agents.insert(try #require(event["user_agent"] as? String))
            eventIDs.append(try #require(event["event_id"] as? String))
        }
        let missing = answers.keys.filter { !agents.contains("load-\($0)") }
        #expect(missing.isEmpty, "answered but not in the journal: \(missing.sorted().prefix(20))")
        #expect(Set(eventIDs).count == eventIDs.count)

        // Restarted with a webhook: every event of the journal is delivered (at least once).
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let withWebhook = setup.directory + "/webhook.conf"
        let text = try String(contentsOfFile: setup.configurationPath, encoding: .utf8)
        try (text + "\nwebhook_url = \(receiver.url)\nwebhook_batch_size = 500\n").write(
            toFile: withWebhook, atomically: true, encoding: .utf8)
        let restarted = try await ServeProcess.start(configuration: withWebhook, journal: setup.journalPath)
        let expected = Set(eventIDs)
        let delivered = await Wait.until(seconds: 120) { expected.isSubset(of: receiver.acknowledgedEventIDs) }
        #expect(delivered, "\(expected.subtracting(receiver.acknowledgedEventIDs).count) events not delivered")
        #expect(await restarted.terminate() == 0, "\(restarted.stderr)")
        let acknowledged = receiver.acknowledgedEventIDs
        #expect(acknowledged.count == expected.count, "each sent once when nothing fails")
        for request in receiver.requests {
            #expect(request.headers["content-type"] == "application/json" && request.batchID != nil)
        }
        let state = try String(contentsOfFile: setup.journalPath + ".webhook.offset", encoding: .utf8)
        #expect(state.split(separator: " ").first.flatMap { Int($0) } == data.count)
    }
}
