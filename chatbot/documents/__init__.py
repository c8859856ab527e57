"""Users' documents: the chat app's use of rag (library), ingestion jobs and their fair
queue, collections and documents listed and removed, and uploaded files on disk."""
