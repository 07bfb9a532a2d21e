"""The data path: poll devices on their schedules, detect on every poll, commit to the
store before anything is published (store-before-publish)."""
