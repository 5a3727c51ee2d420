#!/usr/bin/env bash
# Builds the JVM core and runs its JUnit 5 tests with plain javac/java, as .ci/run does on
# a machine without Gradle's repositories. Jars: Debian's junit5 and libgoogle-gson-java
# (apt-get install -y junit5 libgoogle-gson-java), or set JAVA_LIBS to a folder holding
# gson.jar and junit-platform-console-standalone.jar.
# Extra arguments go to the JVM, e.g. -Dgolden.vectors=/path/to/golden_vectors.json.
set -euo pipefail
cd "$(dirname "$0")"
libs="${JAVA_LIBS:-/usr/share/java}"
for jar in gson.jar junit-platform-console-standalone.jar; do
  if [ ! -f "$libs/$jar" ]; then
    echo "unlock-core: $libs/$jar is missing; apt-get install -y junit5 libgoogle-gson-java" \
         "or set JAVA_LIBS" >&2
    exit 2
  fi
done
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
javac --release 17 -Werror -Xlint:all -d "$build/main" -cp "$libs/gson.jar" \
  $(find src/main/java -name '*.java')
javac --release 17 -d "$build/test" \
  -cp "$build/main:$libs/gson.jar:$libs/junit-platform-console-standalone.jar" \
  $(find src/test/java -name '*.java')
java "$@" -jar "$libs/junit-platform-console-standalone.jar" \
  --class-path "$build/main:$build/test:src/test/resources:$libs/gson.jar" \
  --scan-class-path "$build/test" --fail-if-no-tests --disable-banner --details=summary
