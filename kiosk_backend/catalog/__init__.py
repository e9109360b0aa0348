"""Service items (政务服务事项), their guides (办事指南), departments, themes, life-event
bundles (一件事) and search the way residents talk."""
