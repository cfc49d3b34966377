import ArgumentParser
import CSSInline
import Foundation
import LinkstampFilterCommand

struct InlineCSSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inline-css",
        abstract: "Inline an HTML document's head <style> rules into style attributes (stdout).",
        discussion: "Every byte the inliner does not change is written as it came."
    )

    @Option(name: .long, help: "An extra stylesheet applied as if it were in the document (like juice's extraCss).")
    var css: String?

    @Argument(help: "The HTML document (default: stdin).")
    var file: String?

    func run() throws {
        let input: [UInt8]
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                printError("linkstamp: cannot read '\(file)'")
                throw ExitCode(SysExit.noInput)
            }
            input = Array(data)
        } else {
            input = Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        var extra: String?
        if let css {
            guard let data = FileManager.default.contents(atPath: css) else {
                printError("linkstamp: cannot read '\(css)'")
                throw ExitCode(SysExit.noInput)
            }
            extra = String(decoding: data, as: UTF8.self)
        }
        do {
            let output = try CSSInliner(extraCSS: extra).inline(input)
            FileHandle.standardOutput.write(Data(output))
        } catch {
            printError("linkstamp: \(error)")
            throw ExitCode(SysExit.dataError)
        }
    }
}
