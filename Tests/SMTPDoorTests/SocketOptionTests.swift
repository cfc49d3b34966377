import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import SMTPDoor

#if canImport(Glibc)
    import Glibc
#endif

/// TCP_NODELAY set at the socket level (`SOL_SOCKET`) is option 1 there: SO_DEBUG, which needs
/// CAP_NET_ADMIN. Run as root it went unnoticed; run as the `linkstamp` user (every README
/// wiring does) the door closed each connection before its banner and could not reach the
/// relay. Every TCP socket of the door must have TCP_NODELAY and none SO_DEBUG.
///
/// An extension of `SMTPDoorServerTests` so it runs in that serialized suite: two suites that
/// block on `blocking` at once can starve the cooperative pool on a 2-core machine.
extension SMTPDoorServerTests {
    #if os(Linux)
        /// Local and peer ports of a TCP socket `fd`, or nil when `fd` is not an IPv4 TCP socket.
        static func socketPorts(_ fd: Int32) -> (local: Int, peer: Int)? {
            var type: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0, type == Int32(SOCK_STREAM.rawValue)
            else { return nil }
            func port(_ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) -> Int?
            {
                var address = sockaddr_in()
                var size = socklen_t(MemoryLayout<sockaddr_in>.size)
                let ok = withUnsafeMutablePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(fd, $0, &size) }
                }
                guard ok == 0, address.sin_family == sa_family_t(AF_INET) else { return nil }
                return Int(UInt16(bigEndian: address.sin_port))
            }
            guard let local = port({ getsockname($0, $1, $2) }) else { return nil }
            return (local, port({ getpeername($0, $1, $2) }) ?? 0)
        }

        static func socketOption(_ fd: Int32, _ level: Int32, _ name: Int32) -> Int32 {
            var value: Int32 = -1
            var length = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(fd, level, name, &value, &length) == 0 ? value : -1
        }

        @Test func acceptedAndRelaySocketsHaveNoDelayAndNoDebugFlag() throws {
            let rig = try rig()
            defer { rig.stop() }
            let client = try LineClient(port: rig.port)
            #expect(try client.reply()?.hasPrefix("220 door.test") == true)
            try client.send(
                "EHLO app.test\r\nMAIL FROM:<news@acme.example>\r\nRCPT TO:<reader@example.org>\r\nDATA\r\n")
            _ = try client.reply()
            _ = try client.reply()
            _ = try client.reply()
            #expect(try client.reply()?.hasPrefix("354") == true)
            try client.send("Subject: hi\r\n\r\nhello\r\n.\r\n")
            #expect(try client.reply()?.hasPrefix("250 2.0.0") == true)

            var accepted = 0
            var relayed = 0
            for fd in Int32(0)..<Int32(4096) {
                guard let (local, peer) = SMTPDoorServerTests.socketPorts(fd) else { continue }
                let isAccepted = local == rig.port && peer != 0
                let isRelay = peer == rig.sink.port
                guard isAccepted || isRelay else { continue }
                #expect(SMTPDoorServerTests.socketOption(fd, SOL_SOCKET, SO_DEBUG) == 0, "fd \(fd) has SO_DEBUG set")
                #expect(
                    SMTPDoorServerTests.socketOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY) != 0,
                    "fd \(fd) lacks TCP_NODELAY")
                if isAccepted { accepted += 1 } else { relayed += 1 }
            }
            #expect(accepted >= 1, "found no accepted door socket")
            #expect(relayed >= 1, "found no relay socket")
            try client.send("QUIT\r\n")
        }
    #endif
}
