// iOS sample: pick a photo, run the model, list what it found.
// Bundle model.mlpackage (Xcode compiles it to model.mlmodelc) and metadata.json.
import SlipwayModel
import UIKit

final class ViewController: UIViewController, UIImagePickerControllerDelegate, UINavigationControllerDelegate {
    private let imageView = UIImageView()
    private let resultView = UITextView()
    private var model: ModelWrapper?

    override func viewDidLoad() {
        super.viewDidLoad()
        view.backgroundColor = .systemBackground
        imageView.contentMode = .scaleAspectFit
        resultView.isEditable = false
        let stack = UIStackView(arrangedSubviews: [imageView, resultView])
        stack.axis = .vertical
        stack.distribution = .fillEqually
        stack.frame = view.bounds.insetBy(dx: 16, dy: 48)
        stack.autoresizingMask = [.flexibleWidth, .flexibleHeight]
        view.addSubview(stack)
        navigationItem.rightBarButtonItem = UIBarButtonItem(barButtonSystemItem: .camera, target: self,
                                                            action: #selector(pickPhoto))
        do {
            guard let modelURL = Bundle.main.url(forResource: "model", withExtension: "mlmodelc"),
                  let metadataURL = Bundle.main.url(forResource: "metadata", withExtension: "json") else {
                resultView.text = "Add model.mlpackage and metadata.json to the app bundle."
                return
            }
            model = try ModelWrapper(modelURL: modelURL, metadataURL: metadataURL)
        } catch {
            resultView.text = "Could not load the model: \(error.localizedDescription)"
        }
    }

    @objc private func pickPhoto() {
        let picker = UIImagePickerController()
        picker.delegate = self
        present(picker, animated: true)
    }

    func imagePickerController(_ picker: UIImagePickerController,
                               didFinishPickingMediaWithInfo info: [UIImagePickerController.InfoKey: Any]) {
        picker.dismiss(animated: true)
        guard let image = info[.originalImage] as? UIImage, let cgImage = image.cgImage, let model = model else { return }
        imageView.image = image
        do {
            let predictions = try model.predict(cgImage)
            resultView.text = predictions.map { p in
                let box = p.bbox.map { " at " + $0.map { String(format: "%.0f", $0) }.joined(separator: ", ") } ?? ""
                return String(format: "%@ %.2f", p.className, p.confidence) + box
            }.joined(separator: "\n")
        } catch {
            resultView.text = "Prediction failed: \(error.localizedDescription)"
        }
    }
}
