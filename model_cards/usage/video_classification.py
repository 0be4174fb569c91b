import numpy as np
import torch
from transformers import AutoModelForVideoClassification, AutoVideoProcessor

model_id = "{repo_id}"
# (frames, height, width, channels) uint8; a path to a video file works too (decoded with PyAV)
video = np.random.default_rng(0).integers(0, 256, (64, 240, 320, 3), dtype=np.uint8)
processor = AutoVideoProcessor.from_pretrained(model_id, trust_remote_code=True)
model = AutoModelForVideoClassification.from_pretrained(model_id, trust_remote_code=True)
with torch.no_grad():
    logits = model(**processor(video, return_tensors="pt")).logits
print(model.config.id2label[logits.argmax(-1).item()])
# Files: pipeline("video-classification", model=model_id, trust_remote_code=True)("clip.mp4")
# Paper protocol (5 clips x 3 crops): processor(video, num_clips=5, num_crops=3), then average
# logits.view(1, 15, -1).mean(1)
