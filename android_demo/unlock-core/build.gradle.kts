// The app's decision logic, with no Android dependency: built and tested on any JDK 17.
// Without Gradle's repositories (as on the project's CI), run_tests.sh does the same
// with javac and the JUnit/Gson jars.
plugins {
    `java-library`
}

java {
    toolchain {
        languageVersion.set(JavaLanguageVersion.of(17))
    }
}

dependencies {
    implementation(libs.gson)
    testImplementation(libs.junit.jupiter)
    testRuntimeOnly("org.junit.platform:junit-platform-launcher")
}

tasks.test {
    useJUnitPlatform()
}
