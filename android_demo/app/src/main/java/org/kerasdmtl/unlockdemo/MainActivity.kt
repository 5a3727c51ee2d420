package org.kerasdmtl.unlockdemo

import android.content.Intent
import android.os.Bundle
import android.widget.Toast
import androidx.appcompat.app.AppCompatActivity
import org.kerasdmtl.unlockdemo.databinding.ActivityMainBinding

/** Pick a user name, then enroll, unlock, or reset the vault. */
class MainActivity : AppCompatActivity() {
    private lateinit var binding: ActivityMainBinding

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        binding = ActivityMainBinding.inflate(layoutInflater)
        setContentView(binding.root)
        binding.enroll.setOnClickListener { open(EnrollActivity::class.java) }
        binding.unlock.setOnClickListener { open(UnlockActivity::class.java) }
        binding.reset.setOnClickListener {
            TemplateVault(this).reset()
            Toast.makeText(this, R.string.vault_reset, Toast.LENGTH_SHORT).show()
        }
    }

    private fun open(screen: Class<out CameraActivity>) {
        val user = binding.user.text.toString().trim()
        if (user.isEmpty()) {
            binding.user.error = getString(R.string.name_required)
            return
        }
        startActivity(Intent(this, screen).putExtra(CameraActivity.EXTRA_USER, user))
    }
}
