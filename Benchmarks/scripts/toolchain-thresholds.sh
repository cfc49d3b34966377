# Sourced by check-thresholds.sh and update-thresholds.sh: allocation counts belong to a
# toolchain (its Foundation and runtime allocate differently), so each Swift version keeps its
# own folder, Thresholds/swift-<version>/.
swift_version=$(swift --version 2>/dev/null | sed -n 's/.*Swift version \([0-9][0-9.]*\).*/\1/p' | head -1)
if [ -z "$swift_version" ]; then
    echo "cannot read the Swift version" >&2
    exit 1
fi
thresholds_path="Thresholds/swift-$swift_version"
