import torch
from PIL import Image, ImageDraw
from transformers import AutoImageProcessor, AutoModel

model_id = "{repo_id}"
image = Image.new("RGB", (320, 240), "skyblue")  # or Image.open("photo.jpg")
ImageDraw.Draw(image).ellipse((100, 60, 220, 180), fill="orange")
processor = AutoImageProcessor.from_pretrained(model_id, trust_remote_code=True)
pixel_values = processor(image, return_tensors="pt").pixel_values

# Pooled features (mean over the tokens, then the encoder's final norm), and the stage maps
encoder = AutoModel.from_pretrained(model_id, trust_remote_code=True)
with torch.no_grad():
    outputs = encoder(pixel_values, output_hidden_states=True)
print(outputs.pooler_output.shape, [tuple(s.shape) for s in outputs.reshaped_hidden_states])
# Fine-tune: AutoModelForImageClassification.from_pretrained(model_id, trust_remote_code=True, num_labels=...)
