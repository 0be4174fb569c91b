import torch
from PIL import Image, ImageDraw
from transformers import AutoImageProcessor, AutoModel, AutoModelForPreTraining

model_id = "{repo_id}"
image = Image.new("RGB", (320, 240), "skyblue")  # or Image.open("photo.jpg")
ImageDraw.Draw(image).ellipse((100, 60, 220, 180), fill="orange")
processor = AutoImageProcessor.from_pretrained(model_id, trust_remote_code=True)
pixel_values = processor(image, return_tensors="pt").pixel_values

# MAE reconstruction (60% of the mask units hidden)
mae = AutoModelForPreTraining.from_pretrained(model_id, trust_remote_code=True)
with torch.no_grad():
    outputs = mae(pixel_values)
print(outputs.loss, outputs.logits.shape)  # (1, 196, 768): 16x16x3 pixels per patch

# Features (or fine-tune: AutoModelForImageClassification.from_pretrained(model_id, num_labels=...))
encoder = AutoModel.from_pretrained(model_id, trust_remote_code=True, add_pooling_layer=False)
with torch.no_grad():
    features = encoder(pixel_values).last_hidden_state.mean(1)
print(features.shape)
