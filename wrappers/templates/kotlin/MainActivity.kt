// Android sample: runs the model on a bundled image and lists what it found.
// Copy model.tflite (or model.onnx), metadata.json and a test image (golden/image.png)
// into app/src/main/assets/.
package ai.slipway.model

import android.app.Activity
import android.graphics.BitmapFactory
import android.os.Bundle
import android.widget.TextView
import java.io.File

class MainActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val text = TextView(this)
        setContentView(text)
        val modelName = assets.list("")?.firstOrNull { it.startsWith("model.") } ?: run {
            text.text = "Add model.tflite or model.onnx to the app's assets."
            return
        }
        // the runtimes read models from files: copy the asset out once
        val modelFile = File(filesDir, modelName)
        if (!modelFile.exists()) assets.open(modelName).use { input -> modelFile.outputStream().use { input.copyTo(it) } }
        val metadata = assets.open("metadata.json").bufferedReader().use { it.readText() }
        val image = assets.open("image.png").use { BitmapFactory.decodeStream(it) }
        ModelWrapper(modelFile, metadata).use { model ->
            text.text = model.predict(image).joinToString("\n") { p ->
                val box = p.bbox?.joinToString(", ", " at ") { "%.0f".format(it) } ?: ""
                "%s %.2f%s".format(p.className, p.confidence, box)
            }
        }
    }
}
