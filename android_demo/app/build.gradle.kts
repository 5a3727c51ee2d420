plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

// The app packs the model that comes with keras_dmtl (keras_dmtl/pretrained), the
// same files `python -m keras_dmtl.unlock` runs. Another export: set
// dmtl.exportDir=/path/to/runs/<run>/export in gradle.properties (or -P on the
// command line).
val exportDir = providers.gradleProperty("dmtl.exportDir")
    .orElse(rootProject.layout.projectDirectory.dir("../keras_dmtl/pretrained").asFile.path)
val modelAssets = layout.buildDirectory.dir("generated/dmtlModel")

android {
    namespace = "org.kerasdmtl.unlockdemo"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.kerasdmtl.unlockdemo"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    kotlinOptions {
        jvmTarget = "17"
    }

    buildFeatures {
        viewBinding = true
    }

    // The model is memory-mapped from the APK: it must stay uncompressed.
    androidResources {
        noCompress += "tflite"
    }

    sourceSets["main"].assets.srcDir(modelAssets)
}

val copyModel by tasks.registering(Copy::class) {
    from(exportDir) { include("dmtl_int8.tflite", "manifest.json") }
    into(modelAssets)
    doLast {
        listOf("dmtl_int8.tflite", "manifest.json").forEach { name ->
            check(modelAssets.get().file(name).asFile.isFile) {
                "${exportDir.get()} has no $name: give dmtl.exportDir=<an export folder>."
            }
        }
    }
}
tasks.named("preBuild") { dependsOn(copyModel) }

dependencies {
    implementation(project(":unlock-core"))
    implementation(libs.gson)
    implementation(libs.litert)
    implementation(libs.mlkit.face.detection)
    implementation(libs.camera.core)
    implementation(libs.camera.camera2)
    implementation(libs.camera.lifecycle)
    implementation(libs.camera.view)
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.appcompat)
    implementation(libs.androidx.activity.ktx)
    implementation(libs.androidx.lifecycle.runtime.ktx)
    implementation(libs.material)
}
