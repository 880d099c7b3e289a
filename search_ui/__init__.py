"""The Streamlit app: presentation only."""
