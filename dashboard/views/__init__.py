"""Dashboard page scripts, run by st.navigation from dashboard/app.py (not imported)."""
