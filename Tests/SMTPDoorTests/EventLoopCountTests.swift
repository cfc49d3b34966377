import Foundation
import NIOCore
import Testing

@testable import SMTPDoor

#if canImport(Glibc)
    import Glibc
#endif

/// The door's event loops follow the CPUs the process may run on: pinned to one CPU
/// (`taskset -c 0`, as the benchmarks run it) it runs one loop thread, not one per online CPU.
@Suite struct EventLoopCountTests {
    #if os(Linux)
        typealias Affinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer?) -> Int32

        static func affinityCall(_ name: String) -> Affinity? {
            dlsym(nil, name).map { unsafeBitCast($0, to: Affinity.self) }
        }

        /// Runs `body` with the calling thread's affinity mask reduced to one CPU it may run on
        /// now, then restores the mask.
        static func withOneCPU<T>(_ body: () -> T) -> T? {
            guard let get = affinityCall("sched_getaffinity"), let set = affinityCall("sched_setaffinity") else {
                return nil
            }
            var saved = [UInt64](repeating: 0, count: 16)
            guard saved.withUnsafeMutableBytes({ get(0, $0.count, $0.baseAddress) }) == 0,
                let word = saved.firstIndex(where: { $0 != 0 })
            else { return nil }
            var mask = [UInt64](repeating: 0, count: 16)
            mask[word] = 1 << UInt64(saved[word].trailingZeroBitCount)
            guard mask.withUnsafeMutableBytes({ set(0, $0.count, $0.baseAddress) }) == 0 else { return nil }
            defer { _ = saved.withUnsafeMutableBytes { set(0, $0.count, $0.baseAddress) } }
            return body()
        }

        @Test func pinnedToOneCPUTheDoorCountsOne() throws {
            // The mask is the calling thread's: set and read on one thread.
            let counted = try #require(EventLoopCountTests.withOneCPU { SMTPDoorServer.usableCPUCount() })
            #expect(counted == 1)
        }

        @Test func unpinnedTheDoorCountsEveryAllowedCPU() {
            let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
            let counted = SMTPDoorServer.usableCPUCount()
            #expect(counted >= 1)
            #expect(counted <= max(1, System.coreCount))
            #expect(counted <= online)
        }
    #endif
}

extension SMTPDoorServerTests {
    /// With the events file as the only journal, a message is prepared on its client
    /// connection's event loop (no hop to Swift concurrency); a suppression lookup or an event
    /// journal still sends it through a task (`deliver(…on:)` checks both).
    @Test func theDoorPreparesOnTheEventLoopByDefault() throws {
        let relay = RelayClient(
            host: "127.0.0.1", port: 9, heloName: "door.test", group: SMTPDoorServer.eventLoopGroup)
        let delivery = MessageDelivery(engine: try SMTPDoorServerTests.engine(), relay: relay, eventsPath: nil)
        #expect(delivery.prepareOnEventLoop)
    }
}
