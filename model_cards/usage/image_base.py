import torch
from PIL import Image, ImageDraw
from transformers import AutoImageProcessor, AutoModel, pipeline

model_id = "{repo_id}"
image = Image.new("RGB", (320, 240), "skyblue")  # or Image.open("photo.jpg")
ImageDraw.Draw(image).ellipse((100, 60, 220, 180), fill="orange")

# Pooled features (mean over the tokens, then the encoder's final norm)
extract = pipeline("image-feature-extraction", model=model_id, trust_remote_code=True)
print(len(extract(image, pool=True)[0]))

# The stage maps, and fine-tuning: AutoModelForImageClassification.from_pretrained(model_id, num_labels=...)
encoder = AutoModel.from_pretrained(model_id, trust_remote_code=True)
inputs = AutoImageProcessor.from_pretrained(model_id, trust_remote_code=True)(image, return_tensors="pt")
with torch.no_grad():
    maps = encoder(**inputs, output_hidden_states=True).reshaped_hidden_states
print([tuple(m.shape) for m in maps])
