"""Demo protocol (written for the CLUE kit, not the CLUE prompts): consumer question summaries."""

sys_prompt = (
    "You turn long messages from patients into one short medical question. "
    "Keep the medical point, drop the story, and write nothing but the question."
)

user_prompt_template = """Patient message:
{CHQ}"""

assistant_response_start = "Short question: "
assistant_response_template = assistant_response_start + """{Summary}"""

ground_truth_key = "Summary"
max_new_tokens = 200
