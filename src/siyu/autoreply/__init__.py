"""Auto-replies: keyword rules, follow and default replies, the Mini Program → OA hand-off."""
