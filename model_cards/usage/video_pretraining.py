import numpy as np
import torch
from transformers import AutoModel, AutoModelForPreTraining, AutoVideoProcessor

model_id = "{repo_id}"
video = np.random.default_rng(0).integers(0, 256, (64, 240, 320, 3), dtype=np.uint8)
processor = AutoVideoProcessor.from_pretrained(model_id, trust_remote_code=True)
pixel_values = processor(video, return_tensors="pt").pixel_values  # (1, 16, 3, 224, 224)

# MAE reconstruction (90% of the mask units hidden)
mae = AutoModelForPreTraining.from_pretrained(model_id, trust_remote_code=True)
with torch.no_grad():
    outputs = mae(pixel_values)
print(outputs.loss, outputs.logits.shape)  # predicted 16x16 patches of every other frame

# Features for fine-tuning or retrieval
encoder = AutoModel.from_pretrained(model_id, trust_remote_code=True, add_pooling_layer=False)
with torch.no_grad():
    features = encoder(pixel_values).last_hidden_state.mean(1)
print(features.shape)
