"""The SSH transport of a Linux host: the connection, command lines, SFTP file access, and wrapped commands."""
