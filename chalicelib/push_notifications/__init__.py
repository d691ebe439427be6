"""The push-notification catalogue the messaging service reads (blast titles, redirect pages)."""
