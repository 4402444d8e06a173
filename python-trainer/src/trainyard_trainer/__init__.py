"""Trainyard's Python trainer: one Ultralytics YOLO training per process, events on an inherited fd."""
