import { randomUUID } from "node:crypto";
import { TrainRequested } from "@trainyard/contracts";

/** A `train.requested` payload for `url`, with a fresh job id. */
export function trainRequested(url: string, expectedStructure?: Record<string, boolean>): TrainRequested {
  return TrainRequested.parse({
    job_id: randomUUID(),
    requested_at: new Date().toISOString(),
    model_config: {
      name: "poste-detector-v1",
      base_model: "yolov8n.pt",
      epochs: 3,
      batch_size: 2,
      image_size: 64,
      learning_rate: 0.01,
    },
    dataset: { url, format: "yolo", ...(expectedStructure ? { expected_structure: expectedStructure } : {}) },
  });
}
