package org.kerasdmtl.unlockdemo

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.AtomicFile
import com.google.gson.JsonArray
import com.google.gson.JsonObject
import com.google.gson.JsonParser
import java.io.File
import java.io.FileNotFoundException
import java.nio.ByteBuffer
import java.security.GeneralSecurityException
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import org.kerasdmtl.unlock.AttemptPolicy

/** The vault could not be decrypted or authenticated: it was altered, or its key is gone. */
class VaultCorruptedException(message: String, cause: Throwable) : Exception(message, cause)

/**
 * Enrolled templates (normalised embeddings, never images) and the attempt-policy state,
 * as one JSON document encrypted with AES-256-GCM under a key that never leaves the
 * Android Keystore. GCM authenticates the file, so an edited or swapped vault is refused,
 * like the Python runtime's HMAC-signed store. Writes are atomic (AtomicFile).
 */
class TemplateVault(context: Context) {
    private val file = AtomicFile(File(context.filesDir, FILE_NAME))

    /** Users' templates and the policy state (JSON written by AttemptPolicy.toJson). */
    class Contents(
        val templates: MutableMap<String, DoubleArray> = mutableMapOf(),
        var policyState: String = AttemptPolicy.EMPTY_STATE,
    )

    /** Reads the vault; an empty one when none was written yet. */
    @Throws(VaultCorruptedException::class)
    fun load(): Contents {
        val sealed = try {
            file.readFully()
        } catch (missing: FileNotFoundException) {
            return Contents()
        }
        val json = try {
            decrypt(sealed)
        } catch (error: GeneralSecurityException) {
            throw VaultCorruptedException("The template vault failed its integrity check; reset it and enroll again.", error)
        }
        val root = JsonParser.parseString(json).asJsonObject
        val contents = Contents(policyState = root.getAsJsonObject("attempts").toString())
        for ((user, entry) in root.getAsJsonObject("users").entrySet()) {
            val values = entry.asJsonObject.getAsJsonArray("template")
            contents.templates[user] = DoubleArray(values.size()) { values[it].asDouble }
        }
        return contents
    }

    /** Encrypts and writes [contents] atomically. */
    fun save(contents: Contents) {
        val users = JsonObject()
        for ((user, template) in contents.templates) {
            val values = JsonArray().apply { template.forEach { add(it) } }
            users.add(user, JsonObject().apply { add("template", values) })
        }
        val root = JsonObject().apply {
            add("users", users)
            add("attempts", JsonParser.parseString(contents.policyState))
        }
        val sealed = encrypt(root.toString())
        val stream = file.startWrite()
        try {
            stream.write(sealed)
            file.finishWrite(stream)
        } catch (error: Exception) {
            file.failWrite(stream)
            throw error
        }
    }

    /** Deletes the vault and its key (after a failed integrity check, or on request). */
    fun reset() {
        file.delete()
        keyStore().deleteEntry(KEY_ALIAS)
    }

    private fun encrypt(plain: String): ByteArray {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, key())
        val iv = cipher.iv
        val body = cipher.doFinal(plain.toByteArray(Charsets.UTF_8))
        return ByteBuffer.allocate(1 + iv.size + body.size).put(iv.size.toByte()).put(iv).put(body).array()
    }

    private fun decrypt(sealed: ByteArray): String {
        val buffer = ByteBuffer.wrap(sealed)
        val iv = ByteArray(buffer.get().toInt()).also { buffer.get(it) }
        val body = ByteArray(buffer.remaining()).also { buffer.get(it) }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key(), GCMParameterSpec(TAG_BITS, iv))
        return String(cipher.doFinal(body), Charsets.UTF_8)
    }

    private fun keyStore(): KeyStore = KeyStore.getInstance(KEYSTORE).apply { load(null) }

    private fun key(): SecretKey {
        (keyStore().getKey(KEY_ALIAS, null) as SecretKey?)?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, KEYSTORE)
        generator.init(
            KeyGenParameterSpec.Builder(KEY_ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    private companion object {
        const val FILE_NAME = "templates.vault"
        const val KEYSTORE = "AndroidKeyStore"
        const val KEY_ALIAS = "keras_dmtl_templates"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val TAG_BITS = 128
    }
}
