import torch
from PIL import Image, ImageDraw
from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

model_id = "{repo_id}"
image = Image.new("RGB", (320, 240), "skyblue")  # or Image.open("photo.jpg")
ImageDraw.Draw(image).ellipse((100, 60, 220, 180), fill="orange")

classifier = pipeline("image-classification", model=model_id, trust_remote_code=True)
print(classifier(image, top_k=5))

processor = AutoImageProcessor.from_pretrained(model_id, trust_remote_code=True)
model = AutoModelForImageClassification.from_pretrained(model_id, trust_remote_code=True)
with torch.no_grad():
    logits = model(**processor(image, return_tensors="pt")).logits
print(model.config.id2label[logits.argmax(-1).item()])
